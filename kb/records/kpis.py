"""The service KPIs the regulation names (客户满意度, 客户投诉率, 业务解答准确率, 工单处理及时率),
per day, ISO week or month (in the complaint rules' time zone), per agent team or per topic —
mixed into `Records`. Read from the plain columns only (dates, statuses, teams, topics), so
nothing encrypted is decrypted to count.

Each figure is counted in the period of the event it is about — a conversation when it was held,
a complaint (its response, handling, follow-up call and satisfaction) when it was received, a spot
check when its conversation was held — and grouped by the team of the agent who held the
conversation or recorded the complaint (as it was then), or by topic:

- complaint_rate = complaints / conversations;
- on_time_response_rate = complaints routed by their response deadline / complaints routed, or
  still new after it;
- on_time_handling_rate (工单处理及时率) = complaints resolved by their resolution deadline /
  complaints resolved, or still open after it (complaints neither resolved nor late are not counted yet);
- on_time_followup_rate = follow-up calls made by their due date / calls made, or still open after it;
- satisfaction_rate = follow-ups with outcome satisfied / those satisfied or not satisfied
  (a customer who could not be reached is not counted);
- answer_accuracy = spot-checked conversations graded accurate / spot-checked conversations graded;
- acceptance_rate = conversations whose last agent verdict is "accepted" / conversations with a verdict.

A rate is None when its denominator is 0.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from kb.errors import ValidationError
from kb.records.models import Complaint, Feedback, FollowUp, Interaction, SpotCheck, utcnow
from kb.records.routing import PERIODS, as_utc

GROUPS = ("team", "topic")
DEFAULT_SPAN = {"day": 30, "week": 7 * 12, "month": 365}
NONE_GROUP = "(none)"
COUNTS = ("conversations", "complaints", "responses_due", "responses_on_time", "handling_due", "handled_on_time",
          "followups_due", "followups_on_time", "followups_answered", "satisfied", "spot_checked", "accurate",
          "with_verdict", "accepted")
RATES = {"complaint_rate": ("complaints", "conversations"),
         "on_time_response_rate": ("responses_on_time", "responses_due"),
         "on_time_handling_rate": ("handled_on_time", "handling_due"),
         "on_time_followup_rate": ("followups_on_time", "followups_due"),
         "satisfaction_rate": ("satisfied", "followups_answered"),
         "answer_accuracy": ("accurate", "spot_checked"),
         "acceptance_rate": ("accepted", "with_verdict")}


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _late(done: datetime | None, due: datetime, now: datetime) -> tuple[bool, bool]:
    """(counted, on time): done by the due time, done late, or not done and past due."""
    if done is not None:
        return True, as_utc(done) <= as_utc(due)
    return as_utc(due) < now, False


class KpisMixin:
    Session: Any
    rules: Any

    def _period_start(self, key: str, period: str) -> date:
        if period == "day":
            return date.fromisoformat(key)
        if period == "week":
            year, week = key.split("-W")
            return date.fromisocalendar(int(year), int(week), 1)
        return date.fromisoformat(f"{key}-01")

    def service_kpis(self, period: str = "month", by: str | None = None, since: datetime | None = None,
                     until: datetime | None = None, now: datetime | None = None) -> dict[str, Any]:
        """{"period", "by", "since", "until", "timezone", "rows": [{"period", "start", "group",
        counts…, rates…}], "totals": [{"group", counts…, rates…}]} — rows sorted by period, then group."""
        if period not in PERIODS:
            raise ValidationError(f"period is one of {', '.join(PERIODS)}")
        if by is not None and by not in GROUPS:
            raise ValidationError(f"group by one of {', '.join(GROUPS)}, or nothing")
        now = as_utc(now or utcnow())
        until = as_utc(until) if until else now
        since = as_utc(since) if since else until - timedelta(days=DEFAULT_SPAN[period])
        if since >= until:
            raise ValidationError("the start of the range must be before its end")
        lo, hi = self._db_time(since), self._db_time(until)
        counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))

        def add(when: datetime, group: str | None, **inc: int) -> None:
            keys = [(self.rules.bucket(when, period), group or NONE_GROUP), ("total", group or NONE_GROUP)]
            for key in keys:
                for name, n in inc.items():
                    counts[key][name] += n

        def group_of(team: str | None, topic: str | None) -> str | None:
            return {"team": team, "topic": topic}.get(by or "", "all")

        with self.Session() as s:
            verdicts: dict[int, str] = {}
            inter = {}
            for iid, created, team, topic in s.execute(select(Interaction.id, Interaction.created_at, Interaction.team,
                                                              Interaction.topic)
                                                       .where(Interaction.created_at >= lo, Interaction.created_at < hi)):
                inter[iid] = (created, group_of(team, topic))
                add(created, inter[iid][1], conversations=1)
            if inter:
                for iid, verdict in s.execute(select(Feedback.interaction_id, Feedback.verdict)
                                              .where(Feedback.interaction_id.in_(list(inter))).order_by(Feedback.id)):
                    verdicts[iid] = verdict
                for iid, accurate in s.execute(select(SpotCheck.interaction_id, SpotCheck.accurate)
                                               .where(SpotCheck.interaction_id.in_(list(inter)),
                                                      SpotCheck.graded_at.isnot(None))):
                    add(inter[iid][0], inter[iid][1], spot_checked=1, accurate=int(bool(accurate)))
            for iid, verdict in verdicts.items():
                add(inter[iid][0], inter[iid][1], with_verdict=1, accepted=int(verdict == "accepted"))
            complaints = {}
            for row in s.execute(select(Complaint.id, Complaint.received_at, Complaint.team, Complaint.topic,
                                        Complaint.routed_at, Complaint.response_due, Complaint.resolved_at,
                                        Complaint.resolve_due)
                                 .where(Complaint.received_at >= lo, Complaint.received_at < hi)):
                cid, received, team, topic, routed, response_due, resolved, resolve_due = row
                group = group_of(team, topic)
                complaints[cid] = (received, group)
                r_due, r_ok = _late(routed, response_due, now)
                h_due, h_ok = _late(resolved, resolve_due, now)
                add(received, group, complaints=1, responses_due=int(r_due), responses_on_time=int(r_ok),
                    handling_due=int(h_due), handled_on_time=int(h_ok))
            if complaints:
                for cid, due, done, outcome in s.execute(select(FollowUp.complaint_id, FollowUp.due_at,
                                                                FollowUp.done_at, FollowUp.outcome)
                                                         .where(FollowUp.complaint_id.in_(list(complaints)))):
                    f_due, f_ok = _late(done, due, now)
                    answered = outcome in ("satisfied", "not_satisfied")
                    add(*complaints[cid], followups_due=int(f_due), followups_on_time=int(f_ok),
                        followups_answered=int(answered), satisfied=int(outcome == "satisfied"))

        def row(key: tuple[str, str]) -> dict[str, Any]:
            c = counts[key]
            return {**c, **{name: _rate(c[num], c[den]) for name, (num, den) in RATES.items()}}

        rows = [{"period": p, "start": self._period_start(p, period).isoformat(), "group": g, **row((p, g))}
                for p, g in sorted(k for k in counts if k[0] != "total")]
        totals = [{"group": g, **row(("total", g))} for p, g in sorted(k for k in counts if k[0] == "total")]
        return {"period": period, "by": by, "since": since.isoformat(), "until": until.isoformat(),
                "timezone": self.rules.spec.timezone, "rows": rows, "totals": totals}
