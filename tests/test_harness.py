"""The harness on a tiny real knowledge base: every question through Answerer.ask, scored once."""

from __future__ import annotations

import pytest

from evals.harness import aggregate, check_thresholds, parse_thresholds, run_eval
from evals.qaset import parse_qaset
from evals.ragas_metrics import RagasScorer
from ingest.pipeline import ingest_paths
from kb.answer.pipeline import Answerer
from kb.errors import ValidationError
from kb.knowledge import KnowledgeBase
from kb.settings import Settings

PRODUCT = """# 随心贷产品说明

## 利率与费用

随心贷的年化利率（单利）为7.2%至18%，按日计息。

提前还款不收取任何手续费，利息按实际借款天数计算。
"""
SERVICE = """# 客服规范

## 投诉处理

客户投诉须在24小时内响应，并在5个工作日内给出处理结果。

## 身份核验

办理业务前须核验客户的姓名、手机号和身份证后四位。
"""
SET = """
name: tiny
items:
  - {id: t-1, question: 随心贷的年化利率是多少, key_points: ["7.2%", "18%"], topic: 利率,
     expected_sources: [{title: 随心贷产品说明, section: 利率与费用}]}
  - {id: t-2, question: 提前还款要手续费吗, key_points: [不收取任何手续费], topic: 还款,
     expected_sources: [{title: 随心贷产品说明, section: 利率与费用}]}
  - {id: t-3, question: 随心贷最高能借多少钱, key_points: [20万元], topic: 利率,
     expected_sources: [{title: 随心贷产品说明}]}
  - {id: t-4, question: 今天天气怎么样, answerable: false, topic: 拒答}
"""


@pytest.fixture(scope="module")
def tiny_kb(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    (root / "docs").mkdir()
    (root / "docs" / "随心贷产品说明.md").write_text(PRODUCT, encoding="utf-8")
    (root / "docs" / "客服规范.md").write_text(SERVICE, encoding="utf-8")
    settings = Settings(data_dir=root / "data")
    with KnowledgeBase.open(settings, writer=True) as kb:
        ingest_paths(kb, [root / "docs"], progress=False)
    kb = KnowledgeBase.open(settings)
    yield kb, settings
    kb.close()


def test_run_eval_scores_each_question_once(tiny_kb):
    kb, settings = tiny_kb
    qaset = parse_qaset(SET, "yaml")
    answerer = Answerer(kb, settings)
    asked = []
    real_ask = answerer.ask
    answerer.ask = lambda q, **kw: asked.append(q) or real_ask(q, **kw)
    result = run_eval(qaset, answerer, kb=kb, judge=RagasScorer(settings))
    assert asked == [i.question for i in qaset.items]  # each question asked exactly once
    rows = {r["id"]: r for r in result["per_question"]}
    assert rows["t-1"]["correct"] and rows["t-1"]["hit@1"] == 1.0
    assert rows["t-1"]["citations"][0]["section"] == "利率与费用"
    assert rows["t-1"]["ragas"]["id_context_recall"] == 1.0  # the one expected chunk was retrieved
    assert not rows["t-3"]["correct"] and rows["t-3"]["missed_key_points"] == ["20万元"]
    assert "20万元" in rows["t-3"]["failure"] or "abstained" in rows["t-3"]["failure"]
    assert rows["t-4"]["abstained"] and rows["t-4"]["correct"]
    assert "hit@1" not in rows["t-4"]  # retrieval is measured on answerable items only
    overall = result["overall"]
    assert overall["accuracy"] == 0.75
    assert overall["abstention_recall"] == 1.0
    assert overall["cited_expected"] >= 2 / 3  # t-1 and t-2 are answered from 利率与费用
    assert overall["hit@5"] == 1.0  # t-1, t-2, t-3 all retrieve an expected source
    assert overall["latency_p50_ms"] > 0
    assert (result["per_topic"]["利率"]["n"], result["per_topic"]["利率"]["accuracy"]) == (2, 0.5)
    assert "id_context_recall" in result["ragas"]["metrics"]


def test_the_answer_kpi_counts_answered_questions_only():
    def row(answerable, abstained, cited):
        return {"answerable": answerable, "expects_source": answerable, "abstained": abstained,
                "cited_expected": cited, "correct": cited and not abstained, "latency_ms": 10.0}

    overall = aggregate([
        row(True, False, True),  # answered, citing the right source
        row(True, True, True),  # abstained: its closest sources include the right one, which is no answer
        row(True, False, False),  # answered from the wrong source
        row(False, True, False),
    ])
    assert overall["cited_expected"] == pytest.approx(1 / 3, abs=1e-4)
    assert overall["answerable_abstained"] == pytest.approx(1 / 3, abs=1e-4)
    assert check_thresholds(overall, parse_thresholds("answerable_abstained=0.05")) == [
        "answerable_abstained = 0.3333 is above the maximum 0.05"
    ]


def test_thresholds_parse_and_check():
    th = parse_thresholds("hit@5=0.95, accuracy=0.85,latency_p95_ms=3000")
    assert th == {"hit@5": 0.95, "accuracy": 0.85, "latency_p95_ms": 3000.0}
    overall = {"hit@5": 0.96, "accuracy": 0.8, "latency_p95_ms": 4200.0}
    assert check_thresholds(overall, th) == [
        "accuracy = 0.8000 is below the threshold 0.85",
        "latency_p95_ms = 4200 is above the maximum 3000",
    ]
    assert check_thresholds({"accuracy": None}, {"accuracy": 0.5}) == ["accuracy was not measured (threshold 0.5)"]
    with pytest.raises(ValidationError, match="unknown metric 'hit@50'"):
        parse_thresholds("hit@50=0.9")
    with pytest.raises(ValidationError, match="needs a number"):
        parse_thresholds("accuracy=high")
