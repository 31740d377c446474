"""`citedesk eval` end to end on a tiny knowledge base built here: the CI gate, reports with deltas,
--json, and clear errors for bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from api.cli import main
from ingest.pipeline import ingest_paths
from kb.knowledge import KnowledgeBase
from kb.records import Records
from kb.settings import Settings

DOCS = {
    "随心贷产品说明.md": "# 随心贷产品说明\n\n## 利率与费用\n\n随心贷的年化利率（单利）为7.2%至18%，按日计息。\n\n"
    "提前还款不收取任何手续费，利息按实际借款天数计算。\n",
    "客服规范.md": "# 客服规范\n\n## 投诉处理\n\n客户投诉须在24小时内响应，并在5个工作日内给出处理结果。\n\n"
    "## 身份核验\n\n办理业务前须核验客户的姓名、手机号和身份证后四位。\n",
}
SET = """\
name: tiny
items:
  - id: t-1
    question: 随心贷的年化利率是多少
    key_points: ["7.2%", "18%"]
    expected_sources: [{title: 随心贷产品说明, section: 利率与费用}]
  - id: t-2
    question: 提前还款要手续费吗
    key_points: [不收取任何手续费]
    expected_sources: [{title: 随心贷产品说明}]
  - id: t-3
    question: 随心贷最高能借多少钱
    key_points: [20万元]
  - id: t-4
    question: 今天天气怎么样
    answerable: false
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalcli")
    (root / "docs").mkdir()
    for name, text in DOCS.items():
        (root / "docs" / name).write_text(text, encoding="utf-8")
    with KnowledgeBase.open(Settings(data_dir=root / "data"), writer=True) as kb:
        ingest_paths(kb, [root / "docs"], progress=False)
    (root / "tiny.yaml").write_text(SET, encoding="utf-8")
    records = Records(Settings(data_dir=root / "data").records_url)
    records.migrate()  # a records database in the data directory: runs are stored there
    records.close()
    return root


def run(*args):
    return CliRunner().invoke(main, ["eval", *map(str, args)], catch_exceptions=False)


def test_gate_passes_and_fails_on_thresholds(env):
    data, qaset = env / "data", env / "tiny.yaml"
    ok = run(qaset, "--data-dir", data, "--no-ragas", "--fail-under", "hit@5=0.95,accuracy=0.7")
    assert ok.exit_code == 0, ok.output
    assert "tiny: 4 questions, 3 correct" in ok.output
    assert "✗ t-3 随心贷最高能借多少钱" in ok.output
    bad = run(qaset, "--data-dir", data, "--no-ragas", "--fail-under", "hit@5=0.95,accuracy=0.9", "--json")
    assert bad.exit_code == 1
    assert "FAILED tiny: accuracy = 0.7500 is below the threshold 0.9" in bad.stderr
    assert "hit@5" not in bad.stderr  # only the missed threshold is reported
    result = json.loads(bad.stdout)
    assert result["gate"]["failed"] == ["accuracy = 0.7500 is below the threshold 0.9"]
    # both runs are in the records database; the second compared itself with the first from there
    records = Records(Settings(data_dir=data).records_url)
    runs = records.eval_runs("tiny")
    records.close()
    assert runs[0].id == result["run_id"] and runs[0].overall["accuracy"] == 0.75
    assert result["compare"]["deltas"]["accuracy"]["before"] == 0.75


def test_unknown_metric_is_a_usage_error(env):
    res = run(env / "tiny.yaml", "--data-dir", env / "data", "--fail-under", "acuracy=0.9")
    assert res.exit_code == 2
    assert "unknown metric 'acuracy'" in res.output


def test_invalid_set_is_reported_with_its_line(env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SET.replace("key_points: [不收取任何手续费]", "key_points: 不收取任何手续费"), encoding="utf-8")
    res = run(bad, "--data-dir", env / "data")
    assert res.exit_code == 2
    assert "bad.yaml line 9: item t-2: key_points must be a list of strings" in res.output


def test_reports_compare_with_the_previous_run(env, tmp_path):
    data, reports = env / "data", tmp_path / "reports"
    first = run(env / "tiny.yaml", "--data-dir", data, "--report", reports, "--json")
    assert first.exit_code == 0
    one = json.loads(first.output)
    assert one["overall"]["accuracy"] == 0.75
    assert "id_context_recall" in one["ragas"]["metrics"]
    # a different key point for t-2: the documents say prepayment is free, the set now wants a 1% fee
    (tmp_path / "tiny.yaml").write_text(SET.replace("key_points: [不收取任何手续费]", "key_points: [收取1%手续费]"), encoding="utf-8")
    second = run(tmp_path / "tiny.yaml", "--data-dir", data, "--report", reports, "--json", "--no-ragas")
    two = json.loads(second.output)
    assert two["compare"]["deltas"]["accuracy"] == {"now": 0.5, "before": 0.75, "delta": -0.25, "trend": "worse"}
    assert two["compare"]["newly_failing"] == ["t-2"]
    md = (reports / "tiny.md").read_text(encoding="utf-8")
    assert f"compared with the run of {one['finished_at']}" in md
    assert "| accuracy | 0.500 | ▼ -0.250 |" in md
    assert "- now failing: t-2" in md
    assert "### t-2: 提前还款要手续费吗" in md and "- missed key points: 收取1%手续费" in md
    assert len(list((reports / "runs").glob("*.json"))) == 2
    html = (reports / "tiny.html").read_text(encoding="utf-8")
    assert html.count("<circle") == 4  # accuracy and hit@5 for each of the two runs


def test_missing_knowledge_base_is_a_clear_error(env, tmp_path):
    res = run(env / "tiny.yaml", "--data-dir", tmp_path / "nothing")
    assert res.exit_code == 2
    assert "there is no knowledge base in" in res.output
    assert not (tmp_path / "nothing").exists()  # nothing was created


def test_several_sets_in_one_run(env, tmp_path):
    other = tmp_path / "unanswerable.jsonl"
    other.write_text('{"name": "refusals"}\n{"id": "r-1", "question": "明天股票会涨吗", "answerable": false}\n',
                     encoding="utf-8")
    res = run(env / "tiny.yaml", other, "--data-dir", env / "data", "--no-ragas", "--json",
              "--fail-under", "abstention_recall=1")
    out = json.loads(res.stdout)
    assert [r["set"] for r in out["results"]] == ["tiny", "refusals"]
    assert out["passed"] is True and res.exit_code == 0
    assert out["results"][1]["overall"]["accuracy"] == 1.0


def test_without_the_eval_extra_the_ragas_metrics_say_what_to_install(env, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ragas", None)  # as if citedesk[eval] were not installed
    res = run(env / "tiny.yaml", "--data-dir", env / "data")
    assert res.exit_code == 2
    assert "pip install 'citedesk[eval]'" in res.output and "--no-ragas" in res.output
    ok = run(env / "tiny.yaml", "--data-dir", env / "data", "--no-ragas", "--json")
    assert ok.exit_code == 0, ok.output
