"""GET /api/audit — who did what and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import AdminUser, RecordsDep

router = APIRouter(prefix="/api/audit", tags=["audit"])


class AuditEventOut(BaseModel):
    id: int
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    at: datetime


@router.get("", response_model=list[AuditEventOut])
def audit(user: AdminUser, records: RecordsDep, actor: str | None = Query(None, max_length=100),
          action: str | None = Query(None, max_length=60), since: datetime | None = None,
          limit: int = Query(200, ge=1, le=5000)) -> list[Any]:
    return [AuditEventOut(id=e.id, actor=e.actor, action=e.action, target=e.target, detail=e.detail or {},
                          at=e.at) for e in records.audit_events(actor=actor, action=action, since=since,
                                                                 limit=limit)]
