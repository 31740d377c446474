"""/api/followups: the follow-up calls (回访) due after complaints are resolved, each its own task
with its own outcome (satisfied, not satisfied, unreachable). Agents see the calls of the
complaints they recorded; supervisors (and above) every call."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import AgentUser, RecordsDep, RowId
from api.routers.complaints import ComplaintOut, FollowUpOut, complaint_out, followup_out, may_handle, scope

router = APIRouter(prefix="/api/followups", tags=["complaints"])


class OutcomeIn(BaseModel):
    outcome: Literal["satisfied", "not_satisfied", "unreachable"]
    note: str | None = Field(None, max_length=4000, description="what the customer said")


class TaskOut(FollowUpOut):
    complaint: ComplaintOut


@router.get("", response_model=list[TaskOut])
def tasks(user: AgentUser, records: RecordsDep, open: bool = True) -> Any:
    """Earliest due first; `open=false` includes the calls already made."""
    return [TaskOut(**followup_out(f, late).model_dump(), complaint=complaint_out(c))
            for f, c, late in records.followup_tasks(open_only=open, **scope(user))]


@router.post("/{followup_id}", response_model=FollowUpOut)
def record(followup_id: RowId, body: OutcomeIn, user: AgentUser, records: RecordsDep) -> Any:
    """Record the call's outcome (once)."""
    tasks = records.followup_tasks(open_only=False, followup_id=followup_id)
    if tasks:
        may_handle(user, tasks[0][1])
    return followup_out(records.record_followup(followup_id, user.name, body.outcome, body.note))
