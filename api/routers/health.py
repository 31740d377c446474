"""GET /healthz — no authentication; for load balancers and the admin."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    documents: int
    chunks: int
    embedder: str
    records_backend: str
    snapshot_id: str | None = None


@router.get("/healthz", response_model=Health)
def healthz(request: Request) -> Health:
    stats = request.app.state.kb.stats()
    return Health(
        status="ok",
        documents=int(stats.get("documents", 0)),
        chunks=int(stats.get("chunks", 0)),
        embedder=str(stats.get("embedder", "")),
        records_backend=request.app.state.records.backend,
        snapshot_id=stats.get("snapshot_id"),
    )
