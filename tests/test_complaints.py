"""Complaint records on real SQLite and PostgreSQL: routing and deadlines from the demo company's
rule file (hand-worked dates: working days, weekends, holidays, its time zone), the statuses from
new to closed with every change in the audit log, refused changes that leave nothing behind,
overdue items, follow-up calls, personal numbers masked, and a rule file with mistakes refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kb.errors import ConfigError, ValidationError
from kb.records import Records
from kb.records.crypto import KeyRing
from kb.records.routing import ComplaintRules

DEMO_RULES = Path(__file__).resolve().parent.parent / "bundles" / "demo" / "rules" / "complaints.yaml"
MOBILE = "13812345678"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def records(records_url):
    r = Records(records_url, keyring=KeyRing.ephemeral(), rules=ComplaintRules.load(DEMO_RULES))
    r.migrate()
    r.add_user("wang", "agent", password="password-1")
    r.set_team("wang", "一组")
    yield r
    r.close()


MONDAY = datetime(2026, 3, 2, 2, tzinfo=UTC)  # 10:00 in Shanghai


def _new(records, at=MONDAY, **kw):
    fields = {"narrative": "上个月多扣了我200元利息，客服一直推诿", "request": "退还多扣的利息", "agent": "wang",
              "agent_id": records.get_user_by_name("wang").id, **kw}
    return records.create_complaint(at=at, **fields)


def test_the_demo_rules_route_each_topic_to_the_department_its_procedure_names():
    rules = ComplaintRules.load(DEMO_RULES)
    assert rules.topic_of("你们乱收费，多扣了我利息") == "利息费用"
    assert rules.route("利息费用").department == "财务核算组"
    assert rules.topic_of("征信上有一笔我不认识的逾期记录") == "征信"
    assert rules.route("征信").department == "征信管理岗"
    assert rules.topic_of("催收员天天打电话给我同事") == "催收"
    assert rules.route("催收").department == "贷后管理部"
    assert rules.topic_of("App 闪退了") == "其他" and rules.route("其他").department == "消费者权益保护部"
    # 升级规则: a regulator or the media, violent collection, more than 50,000 yuan → 客服主管 within 2 hours
    for routing in (rules.route("利息费用", signals=["regulator"]), rules.route("征信", signals=["media"]),
                    rules.route("催收", text="这是暴力催收"), rules.route("利息费用", amount=60000)):
        assert routing.escalated and routing.department == "客服主管" and routing.response_hours == 2
    assert not rules.route("利息费用", amount=50000).escalated  # "超过" 50,000: not at it
    assert rules.route("其他", escalate=True).department == "客服主管"


def test_deadlines_count_working_days_in_the_company_time_zone():
    rules = ComplaintRules.load(DEMO_RULES)
    routing = rules.route("利息费用")
    monday = utc(2026, 3, 2, 2)  # 10:00 in Shanghai
    assert rules.response_due(monday, routing) == utc(2026, 3, 3, 2)  # 24 clock hours
    assert rules.resolve_due(monday, 7) == utc(2026, 3, 11, 15, 59, 59)  # Wednesday next week, end of day
    saturday = utc(2026, 3, 7, 7)  # 15:00 on a Saturday: the count starts on Monday
    assert rules.resolve_due(saturday, 7) == utc(2026, 3, 18, 15, 59, 59)
    late_sunday = utc(2026, 3, 1, 17)  # Monday 01:00 in Shanghai, still Sunday in UTC
    assert rules.resolve_due(late_sunday, 7) == utc(2026, 3, 11, 15, 59, 59)
    before_holidays = utc(2026, 9, 24, 2)  # Thursday; 25 Sep and 1–2 Oct are holidays in the rule file
    assert rules.resolve_due(before_holidays, 7) == utc(2026, 10, 8, 15, 59, 59)
    assert rules.extended_due(monday) == utc(2026, 3, 23, 15, 59, 59)  # 15 working days
    assert rules.followup_due(utc(2026, 3, 5, 6), 3) == utc(2026, 3, 10, 15, 59, 59)
    assert rules.bucket(late_sunday, "day") == "2026-03-02" and rules.bucket(late_sunday, "week") == "2026-W10"


def test_a_complaint_goes_from_new_to_closed_and_every_change_is_audited(records):
    c = _new(records, narrative=f"上个月多扣了我200元利息，我的手机{MOBILE}")
    assert c.ticket_no == f"TS20260302-{c.id:05d}" and c.status == "new"
    assert c.topic == "利息费用" and c.department == "财务核算组" and c.team == "一组"
    assert MOBILE not in c.narrative and "[手机号]" in c.narrative
    assert c.response_due.replace(tzinfo=UTC) == utc(2026, 3, 3, 2)
    records.route_complaint(c.id, "wang", at=utc(2026, 3, 2, 5))
    records.resolve_complaint(c.id, "wang", "核实后退还多扣的200元利息", at=utc(2026, 3, 5, 6))
    (f,) = records.followups_of(c.id)
    assert f.due_at.replace(tzinfo=UTC) == utc(2026, 3, 10, 15, 59, 59) and f.outcome is None
    records.record_followup(f.id, "zhao", "satisfied", note="客户表示满意", at=utc(2026, 3, 6, 2))
    closed = records.close_complaint(c.id, "zhao", at=utc(2026, 3, 6, 3))
    assert closed.status == "closed"
    history = records.complaint_history(c.id)
    assert [(e.action, e.actor) for e in history] == [
        ("complaint.create", "wang"), ("complaint.route", "wang"), ("complaint.resolve", "wang"),
        ("complaint.followup", "zhao"), ("complaint.close", "zhao")]
    assert [e.at.replace(tzinfo=UTC) for e in history] == [utc(2026, 3, 2, 2), utc(2026, 3, 2, 5), utc(2026, 3, 5, 6),
                                                            utc(2026, 3, 6, 2), utc(2026, 3, 6, 3)]
    assert history[1].detail["on_time"] is True and history[3].detail["outcome"] == "satisfied"
    assert not any("多扣" in str(e.detail) or "200" in str(e.detail) for e in history)  # no customer words in the audit log
    with pytest.raises(ValidationError, match="closed"):
        records.update_complaint(c.id, "wang", narrative="改写")


def test_changes_out_of_turn_are_refused_and_change_nothing(records):
    c = _new(records)
    before = len(records.complaint_history(c.id))
    with pytest.raises(ValidationError, match="only a routed complaint can be resolved"):
        records.resolve_complaint(c.id, "wang", "结果")
    with pytest.raises(ValidationError, match="only a resolved complaint can be closed"):
        records.close_complaint(c.id, "wang")
    with pytest.raises(ValidationError, match="non-empty narrative"):
        records.update_complaint(c.id, "wang", narrative="   ")
    with pytest.raises(ValidationError, match="unknown complaint topic"):
        records.update_complaint(c.id, "wang", topic="天气")
    with pytest.raises(ValidationError, match="non-empty narrative"):
        _new(records, narrative="")
    assert records.get_complaint(c.id).status == "new" and len(records.complaint_history(c.id)) == before
    records.route_complaint(c.id, "wang")
    records.resolve_complaint(c.id, "wang", "已处理")
    with pytest.raises(ValidationError, match="follow-up call has an outcome"):
        records.close_complaint(c.id, "wang")
    (f,) = records.followups_of(c.id)
    with pytest.raises(ValidationError, match="outcome is one of"):
        records.record_followup(f.id, "wang", "happy")
    records.record_followup(f.id, "wang", "unreachable")
    with pytest.raises(ValidationError, match="already has its outcome"):
        records.record_followup(f.id, "wang", "satisfied")
    assert records.close_complaint(c.id, "wang").status == "closed"  # an unreachable customer does not block it


def test_editing_a_new_complaint_routes_it_again_and_a_reopened_one_drops_its_call(records):
    c = _new(records)
    edited = records.update_complaint(c.id, "wang", topic="征信", amount=80000.0)
    assert edited.department == "客服主管" and edited.escalated  # 征信, and over 50,000 yuan
    event = records.complaint_history(c.id)[-1]
    assert event.action == "complaint.update" and set(event.detail["fields"]) == {"topic", "amount"}
    records.route_complaint(c.id, "wang")
    records.resolve_complaint(c.id, "wang", "已说明")
    records.reopen_complaint(c.id, "wang", "客户申请复核")
    assert records.get_complaint(c.id).status == "routed" and records.followups_of(c.id) == []


def test_overdue_items_by_kind(records):
    c = _new(records, at=utc(2026, 3, 2, 2))
    assert records.complaints(overdue=True, now=utc(2026, 3, 3, 1)) == []
    (row,) = records.complaints(overdue=True, now=utc(2026, 3, 3, 3))
    assert row[0].id == c.id and row[2] == ["response"]
    assert records.overdue_count(now=utc(2026, 3, 12)) == {"response": 1, "resolution": 1, "followup": 0,
                                                           "complaints": 1}
    records.route_complaint(c.id, "wang", at=utc(2026, 3, 3, 4))
    assert records.complaints(overdue=True, now=utc(2026, 3, 12))[0][2] == ["resolution"]
    records.extend_complaint(c.id, "supervisor1", "需调取通话录音", at=utc(2026, 3, 4))
    assert records.complaints(overdue=True, now=utc(2026, 3, 12)) == []  # 15 working days now
    with pytest.raises(ValidationError, match="already been extended"):
        records.extend_complaint(c.id, "supervisor1", "再延")
    records.resolve_complaint(c.id, "wang", "已处理", at=utc(2026, 3, 5, 6))
    (row,) = records.complaints(overdue=True, now=utc(2026, 3, 11))
    assert row[2] == ["followup"] and row[1].id == records.followups_of(c.id)[0].id
    (task,) = records.followup_tasks(now=utc(2026, 3, 11))
    assert task[2] is True


def test_a_rule_file_with_mistakes_is_refused_with_the_reason(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("default_department: 客服部\ntimezone: Mars/Olympus\nroutes:\n  - topic: 费用\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        ComplaintRules.load(bad)
    assert "timezone" in str(err.value) and "routes.0.department" in str(err.value)
    bad.write_text("default_department: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        ComplaintRules.load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        ComplaintRules.load(tmp_path / "missing.yaml")
