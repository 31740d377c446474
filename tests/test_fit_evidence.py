"""The evidence models' fit (evals.fit_evidence.fit): each group scored by a fit made without it, and
the answerability model taught only by the groups that hold unanswerable questions when asked."""

import numpy as np

from evals.fit_evidence import fit


def _rows(group, n, answerable_share, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        answerable = bool(i < answerable_share * n)
        x = rng.normal(2.0 if answerable else -2.0, 1.0)
        rows.append({"set": group, "id": f"{group}-{i}", "answerable": answerable, "correct": answerable and x > 1.5,
                     "features": [x, rng.normal()]})
    return rows


def test_a_group_of_answerable_questions_only_does_not_teach_the_answerability_model():
    mixed = _rows("statutes", 120, 0.7, 1) + _rows("demo", 80, 0.8, 2)
    answerable_only = _rows("tuning", 200, 1.0, 3)
    for r in answerable_only:  # answerable questions that look like unanswerable ones
        r["features"][0] -= 3.0
    rows = mixed + answerable_only
    everything = fit(rows, 0.7)
    taught = fit(rows, 0.7, {"statutes", "demo"})
    assert taught["answerable_from"] == ["demo", "statutes"]
    # taught by every group, the model answers far more of the weak-looking questions, unanswerable ones too
    assert everything["left_out"]["statutes"]["unanswerable_abstained"] < taught["left_out"]["statutes"]["unanswerable_abstained"]
    assert taught["left_out"]["statutes"]["unanswerable_abstained"] >= 0.9
    # the group it did not learn from is scored all the same (held out)
    assert taught["left_out"]["tuning"]["answerable_abstained"] is not None
    # the confidence model still learns from every group
    assert everything["confidence_weights"] == taught["confidence_weights"]


def test_no_rows_of_the_named_groups_is_an_error():
    import pytest

    with pytest.raises(ValueError, match="no rows"):
        fit(_rows("statutes", 20, 0.5, 1), 0.7, {"demo"})


def test_a_question_asked_over_two_knowledge_bases_is_left_out_with_its_twin():
    # the same questions over a company's documents alone and beside other documents: one unit
    rng = np.random.default_rng(4)
    statutes = []
    for i in range(60):  # here a strong-looking feature means a wrong citation
        x = rng.normal()
        statutes.append({"set": "statutes", "id": f"s-{i}", "answerable": True, "correct": bool(x < 0), "features": [x]})
    alone = []
    for i in range(120):  # and here a right one
        x = rng.normal()
        alone.append({"set": "tuning", "id": f"t-{i}", "answerable": True, "correct": bool(x > 0), "features": [x]})
    twins = [{**r, "set": "tuning-mixed"} for r in alone]

    def high_bin(report, group):
        bins = report["left_out"][group]["confidence_reliability"]
        return next(b for b in bins if b["bin"] == "0.8-1.0")

    leaky = fit(statutes + alone + twins, 0.5)  # each group left out alone: its twin is in the fit
    sealed = fit(statutes + [{**r, "law": "某法"} for r in alone + twins], 0.5)
    # scored by a fit that saw its twin, the group looks well calibrated; sealed, it is scored by
    # the statutes' opposite relation alone and its confident replies are wrong
    assert high_bin(leaky, "tuning")["observed"] > 0.9
    assert high_bin(sealed, "tuning")["observed"] < 0.1
    assert sealed["groups"] == {"statutes": 60, "tuning": 120, "tuning-mixed": 120}
