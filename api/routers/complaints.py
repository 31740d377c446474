"""/api/complaints: draft a complaint record from a conversation, save it, route it, extend,
resolve, reopen and close it. Agents see and change the complaints they recorded; supervisors
(and above) see every complaint, overdue ones included, and alone may name another department
or extend a deadline. Every change is in the audit log (kb.records.complaints)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.auth import Principal
from api.deps import MAX_ID, AgentUser, AnswererDep, KBDep, RecordsDep, RowId
from kb.records.models import COMPLAINT_STATUSES
from kb.records.routing import as_utc

router = APIRouter(prefix="/api/complaints", tags=["complaints"])


class DraftIn(BaseModel):
    interaction_id: int | None = Field(None, ge=1, le=MAX_ID, description="the conversation to draft from")
    text: str | None = Field(None, max_length=8000, description="more of the customer's words (or all of them)")


class ComplaintIn(BaseModel):
    narrative: str = Field(..., min_length=1, max_length=8000, description="what the customer says happened")
    request: str | None = Field(None, max_length=4000, description="what the customer asks for")
    topic: str | None = Field(None, max_length=100, description="the category; the rules' topic of the text when unset")
    product: str | None = Field(None, max_length=100)
    amount: float | None = Field(None, ge=0, le=1e12, description="the sum in dispute, in yuan")
    signals: list[str] = Field([], max_length=10, description="complaint signals (regulator, media, …)")
    escalate: bool = Field(False, description="escalate whatever the rules say (e.g. the third complaint)")
    procedure_step: str | None = Field(None, max_length=2000)
    procedure_source: dict[str, str | None] = {}
    interaction_id: int | None = Field(None, ge=1, le=MAX_ID)


class ComplaintPatch(BaseModel):
    narrative: str | None = Field(None, min_length=1, max_length=8000)
    request: str | None = Field(None, max_length=4000)
    topic: str | None = Field(None, min_length=1, max_length=100)
    product: str | None = Field(None, max_length=100)
    amount: float | None = Field(None, ge=0, le=1e12)


class RouteIn(BaseModel):
    department: str | None = Field(None, min_length=1, max_length=100,
                                   description="another department than the rules' (supervisors only)")


class ReasonIn(BaseModel):
    reason: str = Field(..., min_length=1, max_length=500)


class ResolveIn(BaseModel):
    resolution: str = Field(..., min_length=1, max_length=8000, description="the result told to the customer")


class FollowUpOut(BaseModel):
    id: int
    complaint_id: int
    due_at: str
    outcome: str | None
    note: str | None
    done_at: str | None
    done_by: str | None
    overdue: bool = False


class ComplaintOut(BaseModel):
    id: int
    ticket_no: str | None
    status: str
    topic: str
    product: str | None
    department: str
    escalated: bool
    signals: list[str]
    amount: float | None
    narrative: str
    request: str | None
    procedure_step: str | None
    procedure_source: dict[str, Any]
    resolution: str | None
    interaction_id: int | None
    agent: str
    team: str | None
    received_at: str
    response_due: str
    resolve_due: str
    extended: bool
    routed_at: str | None
    resolved_at: str | None
    closed_at: str | None
    overdue: list[str] = []
    followup: FollowUpOut | None = None
    case_doc_id: str | None
    promoted_by: str | None


class HistoryOut(BaseModel):
    actor: str
    action: str
    at: str
    detail: dict[str, Any]


class ComplaintDetail(ComplaintOut):
    followups: list[FollowUpOut]
    history: list[HistoryOut]


def iso(dt: datetime | None) -> str | None:
    return as_utc(dt).isoformat() if dt else None


def followup_out(f: Any, overdue: bool = False) -> FollowUpOut:
    return FollowUpOut(id=f.id, complaint_id=f.complaint_id, due_at=iso(f.due_at), outcome=f.outcome, note=f.note,
                       done_at=iso(f.done_at), done_by=f.done_by, overdue=overdue)


def complaint_out(c: Any, open_f: Any = None, overdue: list[str] | None = None) -> ComplaintOut:
    fields = {k: getattr(c, k) for k in ComplaintOut.model_fields
              if k not in ("overdue", "followup", "signals", "procedure_source") and not k.endswith(("_at", "_due"))}
    times = {k: iso(getattr(c, k)) for k in ComplaintOut.model_fields if k.endswith(("_at", "_due"))}
    return ComplaintOut(**fields, **times, signals=list(c.signals or []), procedure_source=c.procedure_source or {},
                        overdue=overdue or [],
                        followup=followup_out(open_f, "followup" in (overdue or [])) if open_f else None)


def scope(user: Principal) -> dict[str, Any]:
    """What of the complaints a caller sees: everything from supervisor up, else their own."""
    if user.at_least("supervisor"):
        return {}
    return {"agent_id": user.user_id} if user.user_id is not None else {"agent": user.name}


def may_handle(user: Principal, c: Any) -> None:
    """Agents handle the complaints they recorded; supervisors and above handle every one."""
    if user.at_least("supervisor"):
        return
    mine = c.agent_id == user.user_id if c.agent_id is not None else c.agent == user.name
    if not mine:
        raise HTTPException(403, "this complaint was recorded by another agent; it needs the supervisor role or higher")


def detail_out(records: Any, c: Any) -> ComplaintDetail:
    rows = records.complaints(ticket=c.ticket_no, limit=1)
    _, open_f, overdue = rows[0] if rows else (c, None, [])
    history = [HistoryOut(actor=e.actor, action=e.action, at=iso(e.at), detail=e.detail or {})
               for e in records.complaint_history(c.id)]
    return ComplaintDetail(**complaint_out(c, open_f, overdue).model_dump(),
                           followups=[followup_out(f) for f in records.followups_of(c.id)], history=history)


@router.post("/draft")
def draft(body: DraftIn, user: AgentUser, records: RecordsDep, kb: KBDep, answerer: AnswererDep) -> dict[str, Any]:
    """A draft record from a conversation (its question, plus any text given); nothing is saved."""
    from kb.answer.complaint_draft import draft_complaint
    from kb.errors import ValidationError

    text, product, citations = body.text or "", None, []
    if body.interaction_id is not None:
        it = records.get_interaction(body.interaction_id)
        owner = it.user_id == user.user_id if it.user_id is not None else it.api_key_id == user.key_id
        if not (owner or user.at_least("supervisor")):
            raise HTTPException(403, "this conversation belongs to another agent")
        text, product, citations = f"{it.question}\n{text}".strip(), it.product, it.citations or []
    if not text.strip():
        raise ValidationError("give the conversation (interaction_id) or the customer's words (text)")
    products = sorted({str(d.meta.get("product")) for d in kb.documents() if d.meta.get("product")})
    return {**draft_complaint(text, records.rules, answerer, product=product, products=products,
                              citations=citations, now=records.now()),
            "interaction_id": body.interaction_id}


@router.post("", response_model=ComplaintOut, status_code=201)
def create(body: ComplaintIn, user: AgentUser, records: RecordsDep) -> Any:
    c = records.create_complaint(**body.model_dump(), agent=user.name, agent_id=user.user_id)
    return complaint_out(c)


@router.get("", response_model=list[ComplaintOut])
def list_complaints(user: AgentUser, records: RecordsDep, status: str | None = Query(None, max_length=20),
                    overdue: bool = False, topic: str | None = Query(None, max_length=100),
                    department: str | None = Query(None, max_length=100),
                    ticket: str | None = Query(None, max_length=40), since: datetime | None = None,
                    until: datetime | None = None, limit: int = Query(200, ge=1, le=1000)) -> Any:
    """Newest first. Agents get the complaints they recorded; supervisors every complaint."""
    if status is not None and status not in COMPLAINT_STATUSES:
        from kb.errors import ValidationError

        raise ValidationError(f"status is one of {', '.join(COMPLAINT_STATUSES)}")
    rows = records.complaints(status=status, overdue=overdue, topic=topic, department=department, ticket=ticket,
                              since=since, until=until, limit=limit, **scope(user))
    return [complaint_out(c, f, kinds) for c, f, kinds in rows]


@router.get("/{complaint_id}", response_model=ComplaintDetail)
def show(complaint_id: RowId, user: AgentUser, records: RecordsDep) -> Any:
    c = records.get_complaint(complaint_id)
    may_handle(user, c)
    return detail_out(records, c)


@router.patch("/{complaint_id}", response_model=ComplaintDetail)
def edit(complaint_id: RowId, body: ComplaintPatch, user: AgentUser, records: RecordsDep) -> Any:
    may_handle(user, records.get_complaint(complaint_id))
    c = records.update_complaint(complaint_id, user.name, **body.model_dump(exclude_unset=True))
    return detail_out(records, c)


@router.post("/{complaint_id}/route", response_model=ComplaintDetail)
def route(complaint_id: RowId, body: RouteIn, user: AgentUser, records: RecordsDep) -> Any:
    """Hand the complaint to the department the rules give it (or, for a supervisor, another)."""
    may_handle(user, records.get_complaint(complaint_id))
    if body.department is not None and not user.at_least("supervisor"):
        raise HTTPException(403, "naming another department needs the supervisor role or higher")
    return detail_out(records, records.route_complaint(complaint_id, user.name, department=body.department))


@router.post("/{complaint_id}/extend", response_model=ComplaintDetail)
def extend(complaint_id: RowId, body: ReasonIn, user: AgentUser, records: RecordsDep) -> Any:
    """The supervisor's approval to resolve by the rules' extended deadline."""
    if not user.at_least("supervisor"):
        raise HTTPException(403, "extending a deadline needs the supervisor role or higher")
    return detail_out(records, records.extend_complaint(complaint_id, user.name, body.reason))


@router.post("/{complaint_id}/resolve", response_model=ComplaintDetail)
def resolve(complaint_id: RowId, body: ResolveIn, user: AgentUser, records: RecordsDep) -> Any:
    """Record the result told to the customer; the follow-up call becomes due."""
    may_handle(user, records.get_complaint(complaint_id))
    return detail_out(records, records.resolve_complaint(complaint_id, user.name, body.resolution))


@router.post("/{complaint_id}/reopen", response_model=ComplaintDetail)
def reopen(complaint_id: RowId, body: ReasonIn, user: AgentUser, records: RecordsDep) -> Any:
    may_handle(user, records.get_complaint(complaint_id))
    return detail_out(records, records.reopen_complaint(complaint_id, user.name, body.reason))


@router.post("/{complaint_id}/close", response_model=ComplaintDetail)
def close(complaint_id: RowId, user: AgentUser, records: RecordsDep) -> Any:
    may_handle(user, records.get_complaint(complaint_id))
    return detail_out(records, records.close_complaint(complaint_id, user.name))
