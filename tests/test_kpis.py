"""The service KPIs against a hand-counted fixture: seven conversations, five complaints, their
follow-up calls and spot checks, two agent teams, March and April 2026 in Shanghai time. Every
expected figure below was counted by hand from the table in the fixture's docstring."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from kb.errors import ValidationError
from kb.records import Records
from kb.records.crypto import KeyRing
from kb.records.models import Interaction
from kb.records.routing import ComplaintRules

DEMO_RULES = Path(__file__).resolve().parent.parent / "bundles" / "demo" / "rules" / "complaints.yaml"
NOW = datetime(2026, 4, 15, tzinfo=UTC)
RANGE = {"since": datetime(2026, 2, 1, tzinfo=UTC), "until": datetime(2026, 5, 1, tzinfo=UTC), "now": NOW}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """
    conversations (UTC; Shanghai is +8)          team  topic     verdict   spot check
      1 a1 03-02 02:00 上个月多扣了我利息           一组  利息费用  accepted  accurate
      2 a1 03-03 02:00 我的征信上有逾期记录         一组  征信      edited    not accurate
      3 b1 03-04 02:00 怎么提前还款                二组  其他      accepted  accurate
      4 b1 03-09 02:00 催收天天打电话骚扰我         二组  催收      –         drawn, not graded
      5 b1 03-10 02:00 罚息是怎么算的              二组  利息费用  rejected  accurate
      6 a1 04-01 02:00 手续费多少                  一组  利息费用  accepted  –
      7 –  02-28 17:00 你好 (01:00 on 1 March in Shanghai)  –  其他  –   drawn, not graded
    complaints (received; routed; resolved; follow-up)
      C1 a1 03-02 03:00 利息费用: routed 03-02 05:00 (due 03-03 03:00, on time); resolved 03-05 (due 03-11, on
         time); call due 03-10, made 03-06: satisfied
      C2 a1 03-03 03:00 征信: routed 03-04 05:00 (due 03-04 03:00, late); resolved 03-13 02:00 (due 03-12, late);
         call due 03-18, made 03-20 (late): not satisfied
      C3 b1 03-09 03:00 催收: routed 03-09 04:00 (on time); resolved 03-10 (on time); call due 03-13, made 03-12:
         unreachable
      C4 b1 03-10 03:00 利息费用: never routed — on 15 April both its response and resolution are late
      C5 a1 04-14 03:00 利息费用: new, nothing due yet on 15 April 00:00
    """
    path = tmp_path_factory.mktemp("kpis") / "records.sqlite"
    r = Records(f"sqlite:///{path}", keyring=KeyRing.ephemeral(), rules=ComplaintRules.load(DEMO_RULES))
    r.migrate()
    users = {}
    for name, team in (("a1", "一组"), ("b1", "二组")):
        users[name] = r.add_user(name, "agent", password="password-1").id
        r.set_team(name, team)
    asked = [("a1", utc(2026, 3, 2, 2), "上个月多扣了我利息", "accepted"),
             ("a1", utc(2026, 3, 3, 2), "我的征信上有逾期记录", "edited"),
             ("b1", utc(2026, 3, 4, 2), "怎么提前还款", "accepted"),
             ("b1", utc(2026, 3, 9, 2), "催收天天打电话骚扰我", None),
             ("b1", utc(2026, 3, 10, 2), "罚息是怎么算的", "rejected"),
             ("a1", utc(2026, 4, 1, 2), "手续费多少", "accepted"),
             (None, utc(2026, 2, 28, 17), "你好", None)]
    ids = []
    for who, at, question, verdict in asked:
        iid = r.save_interaction({"question": question, "answer": "答复"}, user_id=users.get(who))
        with r.Session.begin() as s:  # the conversation as held on that day
            s.execute(update(Interaction).where(Interaction.id == iid).values(created_at=at))
        if verdict:
            r.add_feedback(iid, verdict, edited_reply="改后的答复" if verdict == "edited" else None)
        ids.append(iid)

    def complaint(who, at, topic):
        return r.create_complaint(narrative="客户反映的情况", topic=topic, agent=who, agent_id=users[who], at=at).id

    c1 = complaint("a1", utc(2026, 3, 2, 3), "利息费用")
    r.route_complaint(c1, "a1", at=utc(2026, 3, 2, 5))
    r.resolve_complaint(c1, "a1", "已退还", at=utc(2026, 3, 5, 6))
    r.record_followup(r.followups_of(c1)[0].id, "a1", "satisfied", at=utc(2026, 3, 6, 2))
    c2 = complaint("a1", utc(2026, 3, 3, 3), "征信")
    r.route_complaint(c2, "a1", at=utc(2026, 3, 4, 5))
    r.resolve_complaint(c2, "a1", "已说明", at=utc(2026, 3, 13, 2))
    r.record_followup(r.followups_of(c2)[0].id, "a1", "not_satisfied", at=utc(2026, 3, 20, 2))
    c3 = complaint("b1", utc(2026, 3, 9, 3), "催收")
    r.route_complaint(c3, "b1", at=utc(2026, 3, 9, 4))
    r.resolve_complaint(c3, "b1", "已整改", at=utc(2026, 3, 10, 2))
    r.record_followup(r.followups_of(c3)[0].id, "b1", "unreachable", at=utc(2026, 3, 12, 2))
    complaint("b1", utc(2026, 3, 10, 3), "利息费用")
    complaint("a1", utc(2026, 4, 14, 3), "利息费用")
    sample, drawn = r.draw_sample("trainer1", 10, since=utc(2026, 2, 28, 16), until=utc(2026, 4, 1), seed=7)
    assert sorted(sc.interaction_id for sc in drawn) == sorted(ids[:5] + [ids[6]])
    by_interaction = {sc.interaction_id: sc.id for sc in drawn}
    for n, accurate in ((0, True), (1, False), (2, True), (4, True)):
        r.grade_spot_check(by_interaction[ids[n]], "trainer1", accurate=accurate, complete=True, polite=True,
                           compliant=True)
    yield r
    r.close()


def _rows(report):
    return {(row["period"], row["group"]): row for row in report["rows"]}


def test_per_month_overall(records):
    rows = _rows(records.service_kpis("month", **RANGE))
    march, april = rows[("2026-03", "all")], rows[("2026-04", "all")]
    assert set(rows) == {("2026-03", "all"), ("2026-04", "all")}  # conversation 7 is March in Shanghai
    assert (march["conversations"], march["complaints"], march["complaint_rate"]) == (6, 4, 0.6667)
    assert (march["responses_due"], march["responses_on_time"], march["on_time_response_rate"]) == (4, 2, 0.5)
    assert (march["handling_due"], march["handled_on_time"], march["on_time_handling_rate"]) == (4, 2, 0.5)
    assert (march["followups_due"], march["followups_on_time"], march["on_time_followup_rate"]) == (3, 2, 0.6667)
    assert (march["followups_answered"], march["satisfied"], march["satisfaction_rate"]) == (2, 1, 0.5)
    assert (march["spot_checked"], march["accurate"], march["answer_accuracy"]) == (4, 3, 0.75)
    assert (march["with_verdict"], march["accepted"], march["acceptance_rate"]) == (4, 2, 0.5)
    assert (april["conversations"], april["complaints"], april["complaint_rate"]) == (1, 1, 1.0)
    # C5 has nothing due yet: it is in no rate's denominator
    assert april["on_time_response_rate"] is None and april["on_time_handling_rate"] is None
    assert april["satisfaction_rate"] is None and april["answer_accuracy"] is None
    assert april["acceptance_rate"] == 1.0
    assert rows[("2026-03", "all")]["start"] == "2026-03-01"


def test_per_month_and_team(records):
    report = records.service_kpis("month", by="team", **RANGE)
    rows = _rows(report)
    one, two, nobody = rows[("2026-03", "一组")], rows[("2026-03", "二组")], rows[("2026-03", "(none)")]
    assert (one["conversations"], one["complaints"], one["complaint_rate"]) == (2, 2, 1.0)
    assert (one["on_time_response_rate"], one["on_time_handling_rate"], one["on_time_followup_rate"]) == (0.5, 0.5, 0.5)
    assert (one["satisfaction_rate"], one["answer_accuracy"], one["acceptance_rate"]) == (0.5, 0.5, 0.5)
    assert (two["conversations"], two["complaints"], two["complaint_rate"]) == (3, 2, 0.6667)
    assert (two["on_time_response_rate"], two["on_time_handling_rate"], two["on_time_followup_rate"]) == (0.5, 0.5, 1.0)
    assert two["satisfaction_rate"] is None  # C3's customer could not be reached
    assert (two["answer_accuracy"], two["acceptance_rate"]) == (1.0, 0.5)
    assert (nobody["conversations"], nobody["complaints"], nobody["complaint_rate"]) == (1, 0, 0.0)
    assert rows[("2026-04", "一组")]["complaints"] == 1
    totals = {t["group"]: t for t in report["totals"]}
    assert (totals["一组"]["conversations"], totals["一组"]["complaints"]) == (3, 3)
    assert (totals["二组"]["conversations"], totals["二组"]["complaints"]) == (3, 2)


def test_per_month_and_topic(records):
    rows = _rows(records.service_kpis("month", by="topic", **RANGE))
    fees, credit = rows[("2026-03", "利息费用")], rows[("2026-03", "征信")]
    other, collection = rows[("2026-03", "其他")], rows[("2026-03", "催收")]
    assert (fees["conversations"], fees["complaints"], fees["on_time_response_rate"]) == (2, 2, 0.5)
    assert (fees["on_time_followup_rate"], fees["satisfaction_rate"], fees["answer_accuracy"]) == (1.0, 1.0, 1.0)
    assert (credit["complaint_rate"], credit["on_time_handling_rate"], credit["satisfaction_rate"]) == (1.0, 0.0, 0.0)
    assert (other["conversations"], other["complaint_rate"], other["answer_accuracy"]) == (2, 0.0, 1.0)
    assert (collection["on_time_handling_rate"], collection["answer_accuracy"]) == (1.0, None)


def test_per_week_and_day(records):
    weeks = _rows(records.service_kpis("week", **RANGE))
    assert weeks[("2026-W09", "all")]["conversations"] == 1  # Sunday 1 March, Shanghai
    w10, w11 = weeks[("2026-W10", "all")], weeks[("2026-W11", "all")]
    assert (w10["conversations"], w10["complaints"], w10["complaint_rate"]) == (3, 2, 0.6667)
    assert (w10["answer_accuracy"], w10["acceptance_rate"], w10["satisfaction_rate"]) == (0.6667, 0.6667, 0.5)
    assert (w11["conversations"], w11["complaints"], w11["on_time_followup_rate"]) == (2, 2, 1.0)
    assert (w11["answer_accuracy"], w11["acceptance_rate"]) == (1.0, 0.0)
    assert weeks[("2026-W16", "all")]["complaint_rate"] is None  # a complaint, no conversation that week
    assert weeks[("2026-W10", "all")]["start"] == "2026-03-02"
    days = _rows(records.service_kpis("day", **RANGE))
    assert (days[("2026-03-02", "all")]["conversations"], days[("2026-03-02", "all")]["complaints"]) == (1, 1)


def test_bad_arguments_are_refused(records):
    with pytest.raises(ValidationError, match="period"):
        records.service_kpis("year")
    with pytest.raises(ValidationError, match="group by"):
        records.service_kpis("month", by="agent")
    with pytest.raises(ValidationError, match="before its end"):
        records.service_kpis("month", since=NOW, until=NOW)
