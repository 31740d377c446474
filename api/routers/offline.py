"""GET /api/offline-pack (agent+): the offline pack — one self-contained HTML file with the FAQs,
procedures and products in force and a search that runs in the browser — for agents to keep on
their computer against an outage (`citedesk export offline-pack` writes the same file)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from api.deps import AgentUser, KBDep, RecordsDep

router = APIRouter(prefix="/api", tags=["offline pack"])


@router.get("/offline-pack", response_class=Response,
            responses={200: {"content": {"text/html": {}}, "description": "the offline pack, index.html"}})
def offline_pack(user: AgentUser, kb: KBDep, records: RecordsDep,
                 lang: str = Query("zh-CN", pattern="^(zh-CN|en)$")) -> Any:
    from ui.offline_pack import render_pack

    html, summary = render_pack(kb, lang)
    records.audit(user.name, "offline_pack.download", "offline pack", {k: summary[k] for k in ("documents", "passages")})
    return Response(html, media_type="text/html; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="citedesk-offline-pack.html"'})
