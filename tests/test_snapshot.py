"""The before/after comparison of every answer (evals.snapshot)."""

from evals.snapshot import differences, reply_figures


def _entry(answer="您好，借款的利息不得预先在本金中扣除[1]。", confidence=0.9, hits=(("民法典|第六百七十条", 0.42),)):
    return {"answer": answer, "citations": [{"n": 1, "title": "民法典", "section": "第六百七十条"}], "abstained": False,
            "flags": [], "mode": "extractive", "confidence": confidence, "hits": [list(h) for h in hits],
            "search": [list(h) for h in hits]}


def test_equal_snapshots_and_score_noise_are_the_same():
    assert differences({"q1": _entry()}, {"q1": _entry(confidence=0.90004, hits=(("民法典|第六百七十条", 0.42001),))}) == []


def test_a_changed_answer_order_or_score_is_reported():
    before = {"q1": _entry(), "q2": _entry()}
    after = {"q1": _entry(answer="您好，另一句[1]。"), "q2": _entry(hits=(("民法典|第六百七十条", 0.5),)), "q3": _entry()}
    assert differences(before, after) == ["q3: only in one snapshot", "q1: answer", "q2: hits scores", "q2: search scores"]


def test_the_figures_say_how_much_of_each_reply_may_be_sent():
    after = {
        "q1": {**_entry(), "reply": "您好，借款的利息不得预先在本金中扣除[1]。", "guidance": []},
        "q2": {**_entry(), "reply": "", "guidance": ["先安抚情绪[1]。"],
               "citations": [{"n": 1, "title": "投诉流程", "section": "", "part": "guidance"}]},
        "q3": {**_entry(), "reply": "", "guidance": ["转交主管。"], "abstained": True},
    }
    figures = reply_figures(after)
    assert figures["answered"] == 2 and figures["with_guidance"] == 0.5 and figures["nothing_to_send"] == 0.5
    assert figures["median_reply_chars"] == len("您好，借款的利息不得预先在本金中扣除。")
    assert figures["sources_per_reply"] == 0.5 and figures["sources_per_answer"] == 1.0
    # a snapshot taken before the split counts the whole answer as the reply
    before = reply_figures({"q1": _entry()})
    assert before["with_guidance"] == 0.0 and before["median_reply_chars"] == len("您好，借款的利息不得预先在本金中扣除。")
