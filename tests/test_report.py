"""Reports: per-question failures with their reasons, deltas against the previous run, the history
chart, a standalone HTML page."""

from __future__ import annotations

import json
import re

from evals.harness import aggregate, per_topic, score_item
from evals.metrics import KeyPointMatcher
from evals.qaset import ExpectedSource, QAItem
from evals.report import compare, load_runs, render_markdown, svg_chart, write_report
from kb.types import Answer, Chunk, Citation, Hit

RATE_CHUNK = Chunk("c_rate", "d1", "随心贷年化利率7.2%至18%。", "第二章 > 利率与费用", meta={"title": "随心贷产品说明"})
OTHER_CHUNK = Chunk("c_other", "d2", "客户投诉须在24小时内响应。", "投诉处理", meta={"title": "客服规范"})
ITEMS = [
    QAItem("q-1", "随心贷利率多少", key_points=["7.2%", "18%"],
           expected_sources=[ExpectedSource("随心贷产品说明", "利率与费用")], topic="利率"),
    QAItem("q-2", "帮我查别人的征信", answerable=False, topic="拒答"),
    QAItem("q-3", "投诉多久响应", key_points=["24小时"], expected_sources=[ExpectedSource("客服规范")], topic="投诉"),
]


def answer(text: str, chunks: list[Chunk], abstained: bool = False) -> Answer:
    cites = [Citation(i + 1, c.chunk_id, c.doc_id, c.title, c.section, "src", c.text) for i, c in enumerate(chunks)]
    return Answer(question="q", text=text, citations=[] if abstained else cites, abstained=abstained,
                  hits=[Hit(c, 0.8) for c in chunks], latency_ms=40.0)


def result(answers: list[Answer], at: str) -> dict:
    matcher = KeyPointMatcher(semantic=False)
    rows = [score_item(i, a, matcher, a.latency_ms) for i, a in zip(ITEMS, answers, strict=True)]
    return {"set": "mini", "description": "", "finished_at": at, "overall": aggregate(rows),
            "per_topic": per_topic(rows), "per_question": rows, "ragas": {"metrics": [], "errors": []}}


def first_run() -> dict:
    return result([answer("年化利率7.2%至18%[1]。", [RATE_CHUNK]),
                   answer("知识库中没有依据，请转人工。", [], abstained=True),
                   answer("投诉须在24小时内响应[1]。", [OTHER_CHUNK])], "2026-11-27T10:00:00+00:00")


def second_run() -> dict:
    # q-1 now misses "18%"; q-2 is answered instead of abstaining; q-3 unchanged
    return result([answer("年化利率最低7.2%[1]。", [RATE_CHUNK]),
                   answer("可以查询[1]。", [OTHER_CHUNK]),
                   answer("投诉须在24小时内响应[1]。", [OTHER_CHUNK])], "2026-11-28T10:00:00+00:00")


def test_scored_rows_explain_failures():
    rows = second_run()["per_question"]
    assert rows[0]["missed_key_points"] == ["18%"]
    assert rows[0]["failure"] == "missed key points: 18%"
    assert rows[1]["failure"] == "answered a question the knowledge base cannot answer (should abstain)"
    assert rows[2]["correct"] is True
    assert second_run()["overall"]["accuracy"] == round(1 / 3, 4)


def test_compare_gives_deltas_and_changed_questions():
    cmp = compare(second_run(), first_run())
    acc = cmp["deltas"]["accuracy"]
    assert (acc["before"], acc["now"], acc["trend"]) == (1.0, round(1 / 3, 4), "worse")
    assert cmp["newly_failing"] == ["q-1", "q-2"]
    assert cmp["newly_passing"] == []
    assert compare(first_run(), None) is None


def test_markdown_report_lists_failures_and_deltas():
    now, before = second_run(), first_run()
    md = render_markdown(now, compare(now, before), [before, now])
    assert "| accuracy | 0.333 | ▼ -0.667 |" in md
    assert "### q-1: 随心贷利率多少" in md and "- missed key points: 18%" in md
    assert "- why: answered a question the knowledge base cannot answer (should abstain)" in md
    assert "- now failing: q-1, q-2" in md
    assert "| 2026-11-27T10:00:00+00:00 | 1.000 | 1.000 |" in md  # the history table
    assert "### q-3" not in md  # passing questions only appear in the summary table


def test_write_report_keeps_history_and_writes_standalone_html(tmp_path):
    before = first_run()
    write_report(before, tmp_path, None, [before])
    history = load_runs(tmp_path, "mini")
    assert len(history) == 1
    now = second_run()
    paths = write_report(now, tmp_path, compare(now, history[-1]), history + [now])
    assert len(load_runs(tmp_path, "mini")) == 2
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["overall"]["accuracy"] == round(1 / 3, 4)
    html = paths["html"].read_text(encoding="utf-8")
    assert "<svg" in html and html.count("<polyline") == 2
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert 'id="q-1"' in html and "missed key points:</b> 18%" in html
    assert "now failing: q-1, q-2" in html


def test_html_escapes_answers(tmp_path):
    run = first_run()
    run["per_question"][0].update(correct=False, answer="<img src=x onerror=alert(1)>", failure="x")
    html = write_report(run, tmp_path, None, [run])["html"].read_text(encoding="utf-8")
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_svg_chart_plots_points_on_a_0_to_1_scale():
    svg = svg_chart([("a", 0.5, 1.0), ("b", 1.0, None)], width=200, height=100)
    # accuracy: two points; hit@5: one (None is skipped)
    assert len(re.findall(r"<circle", svg)) == 3
    ys = [float(y) for y in re.findall(r'cy="([\d.]+)"', svg)]
    assert ys[0] > ys[1]  # 0.5 is drawn lower than 1.0
