"""POST /api/search — ranked chunks, the same objects as `citedesk search --json`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import AgentUser, KBDep
from kb.types import SearchFilters, public_source

router = APIRouter(prefix="/api", tags=["search"])


class SearchRequest(BaseModel):
    query: str = Field(..., min_length=1, max_length=4000)
    k: int = Field(5, ge=1, le=50)
    kind: str | None = Field(None, max_length=30)
    product: str | None = Field(None, max_length=100)


class SearchResult(BaseModel):
    rank: int
    chunk_id: str
    doc_id: str
    title: str
    section: str
    kind: str
    source: str
    score: float
    signals: dict[str, float]
    text: str


class SearchResponse(BaseModel):
    query: str
    results: list[SearchResult]


def hit_to_dict(rank: int, hit: Any) -> dict[str, Any]:
    c = hit.chunk
    return {"rank": rank, "chunk_id": c.chunk_id, "doc_id": c.doc_id, "title": c.title, "section": c.section,
            "kind": c.kind, "source": str(c.meta.get("source", "")), "score": round(float(hit.score), 4),
            "signals": {k: float(v) for k, v in (hit.signals or {}).items()}, "text": c.text}


@router.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, user: AgentUser, kb: KBDep) -> dict[str, Any]:
    if not body.query.strip():
        from kb.errors import ValidationError

        raise ValidationError("the query is empty")
    filters = SearchFilters(kind=body.kind, product=body.product)
    hits = kb.search(body.query, k=body.k, filters=filters)
    results = [hit_to_dict(i, h) for i, h in enumerate(hits, 1)]
    if not user.at_least("admin"):  # no server paths for agents and trainers
        results = [{**r, "source": public_source(r["source"])} for r in results]
    return {"query": body.query, "results": results}
