"""GET /healthz — for load balancers without authentication (it then says only "ok"); an admin's
key or session also gets the counts, the embedder, the records backend and the snapshot id. A
reader of a shared deployment answers 503 with the reason while it cannot serve: still waiting for
its services, or its last look at the catalog failed (kb.index.follow)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from api.auth import identify
from kb.errors import ServiceUnavailableError

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    documents: int | None = None
    chunks: int | None = None
    embedder: str | None = None
    records_backend: str | None = None
    snapshot_id: str | None = None


@router.get("/healthz", response_model=Health, response_model_exclude_none=True)
def healthz(request: Request) -> Health:
    follower = getattr(request.app.state.kb, "follower", None)  # a placeholder raises 503 here
    if follower is not None and follower.last_error:
        raise ServiceUnavailableError(f"this reader cannot reach the catalog: {follower.last_error}")
    try:
        admin = identify(request, request.app.state.records).at_least("admin")
    except HTTPException:
        admin = False
    if not admin:
        return Health(status="ok")
    stats = request.app.state.kb.stats()
    return Health(
        status="ok",
        documents=int(stats.get("documents", 0)),
        chunks=int(stats.get("chunks", 0)),
        embedder=str(stats.get("embedder", "")),
        records_backend=request.app.state.records.backend,
        snapshot_id=stats.get("snapshot_id"),
    )
