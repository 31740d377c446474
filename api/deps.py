"""FastAPI dependencies: the heavy objects built once in the app lifespan, and the caller.

Use the Annotated aliases in routers: `SettingsDep`, `KBDep`, `AnswererDep`, `RecordsDep`,
`JobsDep`, `WritesDep`, `CurrentUser` (any signed-in caller), `AgentUser`, `SupervisorUser`, `TrainerUser`,
`AdminUser`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from api.auth import Principal, forbid_unless, resolve_principal
from api.ratelimit import RateLimiter
from api.tasks import JobManager
from api.writes import LocalWrites, QueuedWrites
from kb.answer.pipeline import Answerer
from kb.knowledge import KnowledgeBase
from kb.records import Records
from kb.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]
MAX_ID = 2_147_483_647  # row ids are 32-bit in PostgreSQL; bigger numbers cannot name a row
RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="a row id")]


def get_kb(request: Request) -> KnowledgeBase:
    return request.app.state.kb


def get_answerer(request: Request) -> Answerer:
    return request.app.state.answerer


def get_records(request: Request) -> Records:
    return request.app.state.records


def get_jobs(request: Request) -> JobManager:
    return request.app.state.jobs


def get_writes(request: Request) -> LocalWrites | QueuedWrites:
    return request.app.state.writes


KBDep = Annotated[KnowledgeBase, Depends(get_kb)]
AnswererDep = Annotated[Answerer, Depends(get_answerer)]
RecordsDep = Annotated[Records, Depends(get_records)]
JobsDep = Annotated[JobManager, Depends(get_jobs)]
WritesDep = Annotated[LocalWrites | QueuedWrites, Depends(get_writes)]


def current_user(request: Request, records: RecordsDep) -> Principal:
    limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
    return resolve_principal(request, records, limiter)


CurrentUser = Annotated[Principal, Depends(current_user)]


def require(minimum: str):
    def dependency(user: CurrentUser) -> Principal:
        forbid_unless(user, minimum)
        return user

    dependency.__name__ = f"require_{minimum}"
    return dependency


AgentUser = Annotated[Principal, Depends(require("agent"))]
SupervisorUser = Annotated[Principal, Depends(require("supervisor"))]
TrainerUser = Annotated[Principal, Depends(require("trainer"))]
AdminUser = Annotated[Principal, Depends(require("admin"))]
