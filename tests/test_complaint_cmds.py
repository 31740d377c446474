"""The complaint, KPI, spot-check and encryption commands on a real data directory: a complaint
recorded, routed, resolved, followed up, closed and promoted from the terminal; the KPIs as CSV;
a sample drawn and graded; the records key rotated (and refused while a server owns the data)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from _api_support import build_kb
from click.testing import CliRunner

from api.cli import main
from kb.records import Records
from kb.settings import Settings, get_settings

DEMO_RULES = str(Path(__file__).resolve().parent.parent / "bundles" / "demo" / "rules" / "complaints.yaml")


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(autouse=True)
def demo_rules(monkeypatch):
    """The demo company's complaint rules (settings are read once: the cache is cleared around)."""
    monkeypatch.setenv("CITEDESK_COMPLAINT_RULES", DEMO_RULES)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


def test_a_complaint_from_record_to_past_case(data_dir):
    build_kb(Settings(data_dir=data_dir))
    d = str(data_dir)
    made = run("complaints", "create", "--narrative", "客户说征信报告上多了一条不认识的逾期记录",
               "--request", "要求删除错误记录", "--json", "--data-dir", d)
    assert made.exit_code == 0, made.output
    c = json.loads(made.output)
    assert (c["topic"], c["department"], c["status"]) == ("征信", "征信管理岗", "new")
    cid = str(c["id"])
    assert "routed" in run("complaints", "route", cid, "--data-dir", d).output
    refused = run("complaints", "close", cid, "--data-dir", d)
    assert refused.exit_code == 2 and "only a resolved complaint" in refused.output
    assert "resolved" in run("complaints", "resolve", cid, "--resolution", "经核查为系统错误，已报送征信更正",
                             "--data-dir", d).output
    shown = json.loads(run("complaints", "show", cid, "--json", "--data-dir", d).output)
    (call,) = shown["followups"]
    assert run("complaints", "followup", str(call["id"]), "--outcome", "satisfied", "--data-dir", d).exit_code == 0
    assert "closed" in run("complaints", "close", cid, "--data-dir", d).output
    history = json.loads(run("complaints", "show", cid, "--json", "--data-dir", d).output)["history"]
    assert [e["action"] for e in history] == ["complaint.create", "complaint.route", "complaint.resolve",
                                              "complaint.followup", "complaint.close"]
    assert all(e["actor"].startswith("cli") for e in history)
    promoted = run("complaints", "promote", cid, "--data-dir", d)
    assert promoted.exit_code == 0 and "past case" in promoted.output, promoted.output
    docs = run("docs", "list", "--json", "--data-dir", d).output
    assert "历史案例：投诉案例" in docs
    listed = json.loads(run("complaints", "list", "--status", "closed", "--json", "--data-dir", d).output)
    assert [x["id"] for x in listed["complaints"]] == [c["id"]] and listed["complaints"][0]["case_doc_id"]


def test_kpis_and_spot_checks_from_the_terminal(data_dir):
    d = str(data_dir)
    records = Records(Settings(data_dir=data_dir).records_url)
    records.migrate()
    for q in ("多扣了我利息", "征信有逾期记录", "怎么还款"):
        records.save_interaction({"question": q, "answer": "答复"})
    records.close()
    run("complaints", "create", "--narrative", "多扣了我利息", "--data-dir", d)
    out = run("kpis", "--period", "day", "--by", "topic", "--csv", "-", "--data-dir", d).output
    rows = {r["group"]: r for r in csv.DictReader(io.StringIO(out.lstrip("\ufeff")))}
    assert rows["利息费用"]["conversations"] == "1" and rows["利息费用"]["complaints"] == "1"
    assert rows["利息费用"]["complaint_rate"] == "1.0" and rows["征信"]["complaint_rate"] == "0.0"
    table = run("kpis", "--period", "month", "--data-dir", d).output
    assert "33.3%" in table  # one complaint in three conversations
    drawn = json.loads(run("spotcheck", "draw", "--size", "2", "--seed", "3", "--json", "--data-dir", d).output)
    assert len(drawn["spot_checks"]) == 2
    first = str(drawn["spot_checks"][0]["id"])
    graded = run("spotcheck", "grade", first, "--accurate", "--not-complete", "--polite", "--compliant",
                 "--data-dir", d)
    assert graded.exit_code == 0
    listed = json.loads(run("spotcheck", "list", "--json", "--data-dir", d).output)["spot_checks"]
    mine = next(r for r in listed if str(r["id"]) == first)
    assert (mine["accurate"], mine["complete"]) == (True, False)
    assert len(json.loads(run("spotcheck", "list", "--pending", "--json", "--data-dir", d).output)["spot_checks"]) == 1
    report = json.loads(run("kpis", "--period", "month", "--json", "--data-dir", d).output)
    assert report["rows"][0]["answer_accuracy"] == 1.0


def test_the_records_key_is_rotated_by_command(data_dir):
    d = str(data_dir)
    records = Records(Settings(data_dir=data_dir).records_url)
    records.migrate()
    records.save_interaction({"question": "客户说被重复扣款", "answer": "答复"})
    records.close()
    before = json.loads(run("encryption", "status", "--json", "--data-dir", d).output)
    assert before["values"] == {before["primary"]: 2}
    rotated = json.loads(run("encryption", "rotate", "--json", "--data-dir", d).output)
    assert rotated["values"] == 2 and rotated["previous"] == before["primary"] != rotated["primary"]
    after = json.loads(run("encryption", "status", "--json", "--data-dir", d).output)
    assert after["values"] == {rotated["primary"]: 2} and after["keys"] == [rotated["primary"], before["primary"]]
    run("encryption", "rotate", "--drop-old", "--data-dir", d)
    final = json.loads(run("encryption", "status", "--json", "--data-dir", d).output)
    assert len(final["keys"]) == 1 and final["values"] == {final["primary"]: 2}
    assert Records(Settings(data_dir=data_dir).records_url).interactions()[0].question == "客户说被重复扣款"
    key = run("encryption", "new-key").output.strip()
    assert len(key) == 44 and key.endswith("=")


def test_rotation_is_refused_while_a_server_owns_the_data(data_dir):
    from kb.index.locking import WriterLock

    Records(Settings(data_dir=data_dir).records_url).migrate()
    lock = WriterLock(data_dir)
    lock.acquire()
    try:
        result = run("encryption", "rotate", "--data-dir", str(data_dir))
    finally:
        lock.release()
    assert result.exit_code == 2 and "error:" in result.output


def test_a_rule_file_is_checked(tmp_path):
    good = run("complaints", "rules", DEMO_RULES)
    assert good.exit_code == 0 and "贷后管理部" in good.output
    bad = tmp_path / "rules.yaml"
    bad.write_text("default_department: 客服部\nroutes:\n  - topic: 费用\n    keywords: 利息\n", encoding="utf-8")
    result = run("complaints", "rules", str(bad))
    assert result.exit_code == 2 and "routes.0" in result.output
