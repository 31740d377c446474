"""Complaint records and their follow-up calls — mixed into `Records` (kb.records.repo), which
provides `Session` and `rules` (kb.records.routing.ComplaintRules).

Statuses: new (recorded) → routed (handed to the responsible department) → resolved (the result
told to the customer; a follow-up call is due) → closed (after the follow-up's outcome is in). A
resolved complaint whose customer is not satisfied can be reopened (back to routed). Every change
is written to the audit log in the same transaction, with who and when; the audit log holds field
names and statuses, never the customer's words. Texts are masked (personal numbers) before they
are stored, and encrypted by their column type.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from kb.errors import NotFoundError, ValidationError
from kb.records.models import (
    COMPLAINT_STATUSES,
    FOLLOWUP_OUTCOMES,
    AuditEvent,
    Complaint,
    FollowUp,
    Interaction,
    User,
    utcnow,
)
from kb.records.routing import as_utc
from kb.text.pii import mask_pii

LIMITS = {"narrative": 8000, "request": 4000, "resolution": 8000, "note": 4000, "reason": 500}
EDITABLE = ("topic", "product", "narrative", "request", "amount")


def clean_text(value: str | None, field: str, required: bool = False) -> str | None:
    text = mask_pii(value).text.strip() if value else ""
    if required and not text:
        raise ValidationError(f"the complaint needs a non-empty {field}")
    if len(text) > LIMITS[field]:
        raise ValidationError(f"the {field} is {len(text)} characters long; the limit is {LIMITS[field]}")
    return text or None


def overdue_kinds(c: Complaint, open_followup: FollowUp | None, now: datetime) -> list[str]:
    """What is late on a complaint: its first response (still new), its resolution, its follow-up call."""
    kinds = []
    if c.status == "new" and as_utc(c.response_due) < now:
        kinds.append("response")
    if c.status in ("new", "routed") and as_utc(c.resolve_due) < now:
        kinds.append("resolution")
    if open_followup is not None and as_utc(open_followup.due_at) < now:
        kinds.append("followup")
    return kinds


class ComplaintsMixin:
    Session: Any
    rules: Any

    def _audit(self, s: Any, actor: str, action: str, c: Complaint, at: datetime, **detail: Any) -> None:
        s.add(AuditEvent(actor=actor, action=action, target=f"complaint {c.id}", at=at,
                         detail={"ticket": c.ticket_no, **detail}))

    def _load(self, s: Any, complaint_id: int) -> Complaint:
        c = s.get(Complaint, complaint_id, with_for_update=True)
        if c is None:
            raise NotFoundError(f"no complaint {complaint_id}")
        return c

    # -- recording ---------------------------------------------------------------------------
    def create_complaint(self, *, narrative: str, agent: str, agent_id: int | None = None, topic: str | None = None,
                         product: str | None = None, request: str | None = None, amount: float | None = None,
                         signals: list[str] | None = None, escalate: bool = False,
                         procedure_step: str | None = None, procedure_source: dict[str, Any] | None = None,
                         interaction_id: int | None = None, at: datetime | None = None) -> Complaint:
        narrative = clean_text(narrative, "narrative", required=True)
        request = clean_text(request, "request")
        product = (product or "").strip()[:100] or None
        topic = (topic or "").strip() or self.rules.topic_of(f"{narrative} {request or ''}", product)
        if topic not in self.rules.topics:
            raise ValidationError(f"unknown complaint topic {topic!r}; use one of {', '.join(self.rules.topics)}")
        if amount is not None and amount < 0:
            raise ValidationError("the amount in dispute cannot be negative")
        routing = self.rules.route(topic, product, f"{narrative} {request or ''}", signals, amount, escalate)
        received = as_utc(at or utcnow())
        with self.Session.begin() as s:
            user = s.get(User, agent_id) if agent_id else None
            if interaction_id is not None and s.get(Interaction, interaction_id) is None:
                raise NotFoundError(f"no interaction {interaction_id}")
            c = Complaint(status="new", topic=topic, product=product, department=routing.department,
                          escalated=routing.escalated, signals=sorted(set(signals or [])), amount=amount,
                          narrative=narrative, request=request, procedure_step=(procedure_step or "")[:2000] or None,
                          procedure_source=procedure_source or {}, interaction_id=interaction_id, agent_id=agent_id,
                          agent=agent[:100], team=user.team if user else None, received_at=received,
                          response_due=self.rules.response_due(received, routing),
                          resolve_due=self.rules.resolve_due(received, routing.resolve_working_days),
                          extended=False, updated_at=received)
            s.add(c)
            s.flush()
            c.ticket_no = self.rules.ticket_no(received, c.id)
            self._audit(s, agent, "complaint.create", c, received, status="new", topic=topic,
                        department=c.department, escalated=c.escalated)
            return c

    def update_complaint(self, complaint_id: int, actor: str, at: datetime | None = None, **fields: Any) -> Complaint:
        """Edit what the record says (not its status). A new complaint whose topic or product
        changes is routed again by the rules."""
        unknown = set(fields) - set(EDITABLE)
        if unknown:
            raise ValidationError(f"these complaint fields cannot be edited: {', '.join(sorted(unknown))}")
        now = as_utc(at or utcnow())
        with self.Session.begin() as s:
            c = self._load(s, complaint_id)
            if c.status == "closed":
                raise ValidationError(f"complaint {c.ticket_no} is closed; it can no longer be edited")
            changed = []
            for name, value in fields.items():
                if name in ("narrative", "request"):
                    value = clean_text(value, name, required=name == "narrative")
                elif name == "topic":
                    if value not in self.rules.topics:
                        raise ValidationError(f"unknown complaint topic {value!r}; use one of "
                                              f"{', '.join(self.rules.topics)}")
                elif name == "product":
                    value = (value or "").strip()[:100] or None
                elif name == "amount" and value is not None and value < 0:
                    raise ValidationError("the amount in dispute cannot be negative")
                if getattr(c, name) != value:
                    setattr(c, name, value)
                    changed.append(name)
            if not changed:
                return c
            if c.status == "new" and {"topic", "product", "amount"} & set(changed):
                routing = self.rules.route(c.topic, c.product, f"{c.narrative} {c.request or ''}", c.signals,
                                           c.amount, c.escalated)
                c.department, c.escalated = routing.department, routing.escalated
                c.response_due = self.rules.response_due(c.received_at, routing)
                if not c.extended:
                    c.resolve_due = self.rules.resolve_due(c.received_at, routing.resolve_working_days)
            c.updated_at = now
            self._audit(s, actor, "complaint.update", c, now, fields=changed, department=c.department)
            return c

    # -- status changes ----------------------------------------------------------------------
    def route_complaint(self, complaint_id: int, actor: str, department: str | None = None,
                        at: datetime | None = None) -> Complaint:
        """Hand a new complaint to the responsible department (the rules', or another named)."""
        now = as_utc(at or utcnow())
        with self.Session.begin() as s:
            c = self._load(s, complaint_id)
            self._expect(c, "new", "route")
            if department is not None:
                department = department.strip()[:100]
                if not department:
                    raise ValidationError("name the department, or leave it out to use the rules' department")
                c.department = department
            c.status, c.routed_at, c.updated_at = "routed", now, now
            self._audit(s, actor, "complaint.route", c, now, status="routed", department=c.department,
                        on_time=now <= as_utc(c.response_due))
            return c

    def extend_complaint(self, complaint_id: int, actor: str, reason: str, at: datetime | None = None) -> Complaint:
        """The supervisor's approval to resolve later (the rules' extended deadline), once."""
        now = as_utc(at or utcnow())
        reason = clean_text(reason, "reason", required=True)
        with self.Session.begin() as s:
            c = self._load(s, complaint_id)
            if c.status not in ("new", "routed"):
                raise ValidationError(f"complaint {c.ticket_no} is {c.status}; only an open complaint is extended")
            if c.extended:
                raise ValidationError(f"complaint {c.ticket_no} has already been extended")
            c.resolve_due, c.extended, c.updated_at = self.rules.extended_due(c.received_at), True, now
            self._audit(s, actor, "complaint.extend", c, now, resolve_due=as_utc(c.resolve_due).isoformat())
            return c

    def resolve_complaint(self, complaint_id: int, actor: str, resolution: str, at: datetime | None = None) -> Complaint:
        """The department's result, told to the customer; the follow-up call becomes due."""
        now = as_utc(at or utcnow())
        resolution = clean_text(resolution, "resolution", required=True)
        with self.Session.begin() as s:
            c = self._load(s, complaint_id)
            self._expect(c, "routed", "resolve")
            routing = self.rules.route(c.topic, c.product)
            c.status, c.resolution, c.resolved_at, c.updated_at = "resolved", resolution, now, now
            s.add(FollowUp(complaint_id=c.id, due_at=self.rules.followup_due(now, routing.followup_working_days),
                           created_at=now))
            self._audit(s, actor, "complaint.resolve", c, now, status="resolved",
                        on_time=now <= as_utc(c.resolve_due))
            return c

    def record_followup(self, followup_id: int, actor: str, outcome: str, note: str | None = None,
                        at: datetime | None = None) -> FollowUp:
        if outcome not in FOLLOWUP_OUTCOMES:
            raise ValidationError(f"the follow-up outcome is one of {', '.join(FOLLOWUP_OUTCOMES)}")
        now = as_utc(at or utcnow())
        note = clean_text(note, "note")
        with self.Session.begin() as s:
            f = s.get(FollowUp, followup_id, with_for_update=True)
            if f is None:
                raise NotFoundError(f"no follow-up call {followup_id}")
            if f.outcome is not None:
                raise ValidationError(f"follow-up call {followup_id} already has its outcome ({f.outcome})")
            f.outcome, f.note, f.done_at, f.done_by = outcome, note, now, actor[:100]
            c = s.get(Complaint, f.complaint_id)
            self._audit(s, actor, "complaint.followup", c, now, followup=f.id, outcome=outcome,
                        on_time=now <= as_utc(f.due_at))
            return f

    def reopen_complaint(self, complaint_id: int, actor: str, reason: str, at: datetime | None = None) -> Complaint:
        """Back to the department (the customer asked for a review after an unsatisfying result)."""
        now = as_utc(at or utcnow())
        reason = clean_text(reason, "reason", required=True)
        with self.Session.begin() as s:
            c = self._load(s, complaint_id)
            self._expect(c, "resolved", "reopen")
            open_f = self._open_followup(s, c.id)
            if open_f is not None:
                s.delete(open_f)  # the call is not made for a result the customer is getting again
            c.status, c.resolved_at, c.updated_at = "routed", None, now
            self._audit(s, actor, "complaint.reopen", c, now, status="routed")
            return c

    def close_complaint(self, complaint_id: int, actor: str, at: datetime | None = None) -> Complaint:
        now = as_utc(at or utcnow())
        with self.Session.begin() as s:
            c = self._load(s, complaint_id)
            self._expect(c, "resolved", "close")
            if self._open_followup(s, c.id) is not None:
                raise ValidationError(f"complaint {c.ticket_no} cannot be closed before its follow-up call has an "
                                      "outcome")
            c.status, c.closed_at, c.updated_at = "closed", now, now
            self._audit(s, actor, "complaint.close", c, now, status="closed")
            return c

    def mark_promoted(self, complaint_id: int, actor: str, issue: str, resolution: str, doc_id: str,
                      at: datetime | None = None) -> Complaint:
        """Record that the reviewed case text of a closed complaint is in the knowledge base."""
        now = as_utc(at or utcnow())
        with self.Session.begin() as s:
            c = self._load(s, complaint_id)
            c.case_issue, c.case_resolution, c.case_doc_id = issue, resolution, doc_id
            c.promoted_by, c.promoted_at, c.updated_at = actor[:100], now, now
            self._audit(s, actor, "complaint.promote", c, now, doc_id=doc_id)
            return c

    @staticmethod
    def _expect(c: Complaint, status: str, action: str) -> None:
        if c.status != status:
            done = {"route": "routed", "resolve": "resolved", "reopen": "reopened", "close": "closed"}[action]
            raise ValidationError(f"complaint {c.ticket_no} is {c.status}; only a {status} complaint can be {done}")

    @staticmethod
    def _open_followup(s: Any, complaint_id: int) -> FollowUp | None:
        return s.scalar(select(FollowUp).where(FollowUp.complaint_id == complaint_id, FollowUp.outcome.is_(None))
                        .order_by(FollowUp.id.desc()))

    # -- reading -----------------------------------------------------------------------------
    def get_complaint(self, complaint_id: int) -> Complaint:
        with self.Session() as s:
            c = s.get(Complaint, complaint_id)
        if c is None:
            raise NotFoundError(f"no complaint {complaint_id}")
        return c

    def followups_of(self, complaint_id: int) -> list[FollowUp]:
        with self.Session() as s:
            return list(s.scalars(select(FollowUp).where(FollowUp.complaint_id == complaint_id).order_by(FollowUp.id)))

    def complaints(self, *, status: str | None = None, agent_id: int | None = None, agent: str | None = None,
                   topic: str | None = None,
                   department: str | None = None, ticket: str | None = None, since: datetime | None = None,
                   until: datetime | None = None, overdue: bool = False, now: datetime | None = None,
                   limit: int = 200) -> list[tuple[Complaint, FollowUp | None, list[str]]]:
        """Complaints (newest first) with their open follow-up call and what is overdue on them;
        searchable by the plain columns only (status, agent, topic, department, ticket, dates)."""
        if status is not None and status not in COMPLAINT_STATUSES:
            raise ValidationError(f"status is one of {', '.join(COMPLAINT_STATUSES)}")
        now = as_utc(now or utcnow())
        q = select(Complaint)
        for col, value in ((Complaint.status, status), (Complaint.agent_id, agent_id), (Complaint.agent, agent),
                           (Complaint.topic, topic),
                           (Complaint.department, department), (Complaint.ticket_no, ticket)):
            if value is not None:
                q = q.where(col == value)
        if since is not None:
            q = q.where(Complaint.received_at >= self._db_time(since))
        if until is not None:
            q = q.where(Complaint.received_at < self._db_time(until))
        if overdue:
            q = q.where(Complaint.status != "closed")
        with self.Session() as s:
            rows = list(s.scalars(q.order_by(Complaint.id.desc()).limit(None if overdue else limit)))
            ids = [c.id for c in rows]
            open_f = {f.complaint_id: f for f in s.scalars(select(FollowUp).where(
                FollowUp.complaint_id.in_(ids), FollowUp.outcome.is_(None)).order_by(FollowUp.id))} if ids else {}
        out = [(c, open_f.get(c.id), overdue_kinds(c, open_f.get(c.id), now)) for c in rows]
        if overdue:
            out = [row for row in out if row[2]][:limit]
        return out

    def overdue_count(self, now: datetime | None = None, agent_id: int | None = None,
                      agent: str | None = None) -> dict[str, int]:
        counts = {"response": 0, "resolution": 0, "followup": 0, "complaints": 0}
        for _, _, kinds in self.complaints(overdue=True, now=now, agent_id=agent_id, agent=agent, limit=100_000):
            counts["complaints"] += 1
            for k in kinds:
                counts[k] += 1
        return counts

    def followup_tasks(self, *, open_only: bool = True, agent_id: int | None = None, agent: str | None = None,
                       followup_id: int | None = None,
                       now: datetime | None = None) -> list[tuple[FollowUp, Complaint, bool]]:
        """Follow-up calls (earliest due first) with their complaint and whether they are overdue."""
        now = as_utc(now or utcnow())
        q = select(FollowUp, Complaint).join(Complaint, Complaint.id == FollowUp.complaint_id)
        if open_only:
            q = q.where(FollowUp.outcome.is_(None))
        if agent_id is not None:
            q = q.where(Complaint.agent_id == agent_id)
        if agent is not None:
            q = q.where(Complaint.agent == agent)
        if followup_id is not None:
            q = q.where(FollowUp.id == followup_id)
        with self.Session() as s:
            rows = list(s.execute(q.order_by(FollowUp.due_at, FollowUp.id).limit(1000)))
        return [(f, c, f.outcome is None and as_utc(f.due_at) < now) for f, c in rows]

    def complaint_history(self, complaint_id: int) -> list[AuditEvent]:
        with self.Session() as s:
            return list(s.scalars(select(AuditEvent).where(AuditEvent.target == f"complaint {complaint_id}")
                                  .order_by(AuditEvent.id)))

    def promoted_complaints(self) -> list[Complaint]:
        with self.Session() as s:
            return list(s.scalars(select(Complaint).where(Complaint.case_doc_id.isnot(None)).order_by(Complaint.id)))
