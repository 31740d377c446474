"""Sign-in, the agent sidebar, the document view, the embeddable widget and its demo host page."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from kb.records import role_at_least
from kb.types import KINDS, public_source
from ui.i18n import translate
from ui.routes.common import (
    KBDep,
    RecordsDep,
    SettingsDep,
    check_csrf,
    error_page,
    guard,
    lang_of,
    remember_lang,
    render,
    safe_next,
    session_user,
    templates,
)

router = APIRouter(include_in_schema=False)
WIDGET_JS = Path(__file__).resolve().parent.parent / "widget.js"
COMPLAINT_WORDS = ("投诉", "complaint")
# The longest question /api/ask accepts (AskRequest.question in api/routers/ask.py; a test keeps them
# equal). The sidebar counts characters against it and refuses a longer question before sending it.
QUESTION_MAX_CHARS = 4000


@router.get("/")
def home(request: Request, records: RecordsDep) -> Response:
    user = session_user(request, records)
    return RedirectResponse("/sidebar" if user else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, records: RecordsDep, next: str | None = None) -> Response:
    return render(request, "login.html", {"next_url": safe_next(next), "error": None},
                  user=session_user(request, records))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, records: RecordsDep, username: str = Form(""), password: str = Form(""),
                csrf: str = Form(""), next: str = Form("/sidebar")) -> Response:
    """Sign in. The app's login guard (api.ratelimit.LoginGuard on app.state) limits failures per
    user name and per address and lets only a few password checks run at once; the check runs in a
    worker thread, so waiting sign-ins hold no thread and block nothing else."""
    ctx = {"next_url": safe_next(next), "username": username}
    if not check_csrf(request, csrf):
        return render(request, "login.html", {**ctx, "error": "login.csrf_failed"}, status_code=403)
    name = username.strip()[:100]
    address = request.client.host if request.client else "unknown"
    guard = request.app.state.login_guard
    if not await guard.acquire():
        response = render(request, "login.html", {**ctx, "error": "login.busy"}, status_code=503)
        response.headers["Retry-After"] = "5"
        return response
    try:
        refusal = guard.refused(name, address)
        user = None if refusal else await run_in_threadpool(records.authenticate, name, password)
        if refusal is None and user is None:
            guard.failed(name, address)
    finally:
        guard.release()
    if user is None:
        await run_in_threadpool(_audit_failure, records, name, address, refusal)
        error, status = ("login.locked", 429) if refusal else ("login.failed", 401)
        response = render(request, "login.html", {**ctx, "error": error}, status_code=status)
        if refusal:
            response.headers["Retry-After"] = str(refusal.retry_after)
        return response
    request.session.clear()
    request.session["sid"] = await run_in_threadpool(records.start_session, user.id)
    request.session["csrf"] = secrets.token_urlsafe(32)
    await run_in_threadpool(records.audit, user.username, "login", "web", {"address": address})
    return RedirectResponse(safe_next(next), status_code=303)


def _audit_failure(records: Any, name: str, address: str, refusal: Any) -> None:
    """A failed sign-in is logged under the user it was for when that user exists; a name that is
    no user is not written down (it is the caller's choice of text, often a mistyped password)."""
    known = records.get_user_by_name(name) if name else None
    detail = {"address": address, **({"refused": refusal.reason} if refusal else {})}
    records.audit(known.username if known else "(unknown user)", "login.failed", "web", detail)


@router.post("/logout")
def logout(request: Request, records: RecordsDep, csrf: str = Form("")) -> Response:
    if check_csrf(request, csrf):
        records.end_session(request.session.get("sid"))
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


def complaint_procedure(kb: Any) -> dict[str, str] | None:
    """The complaint-handling procedure document, for the complaint banner (None if the KB has none)."""
    docs = [d for d in kb.documents() if d.status == "active"]
    for d in sorted(docs, key=lambda d: (d.kind != "procedure", d.title)):
        if any(w in (d.title or "").lower() for w in COMPLAINT_WORDS):
            chunks = kb.chunks_of(d.doc_id)
            summary = "\n".join(c.text for c in chunks[:2])
            return {"doc_id": d.doc_id, "title": d.title, "summary": summary[:700]}
    return None


@router.get("/sidebar", response_class=HTMLResponse)
def sidebar(request: Request, records: RecordsDep, kb: KBDep, settings: SettingsDep) -> Response:
    user = guard(request, records, "agent")
    if isinstance(user, Response):
        return user
    products = sorted({str(d.meta.get("product")) for d in kb.documents() if d.meta.get("product")})
    return render(request, "sidebar.html", {"kinds": KINDS, "products": products,
                                            "complaint_doc": complaint_procedure(kb),
                                            "question_max": QUESTION_MAX_CHARS,
                                            "offline_pack_url": settings.offline_pack_url}, user=user)


@router.get("/documents/{doc_id}", response_class=HTMLResponse)
def document_view(doc_id: str, request: Request, records: RecordsDep, kb: KBDep) -> Response:
    user = guard(request, records, "agent")
    if isinstance(user, Response):
        return user
    doc = kb.get_document(doc_id)
    if doc is None:
        return error_page(request, 404, user, "error.404.title", message=doc_id)
    chunks = sorted(kb.chunks_of(doc_id), key=lambda c: (c.meta.get("ord", 0), c.span or (0, 0)))
    kind_keys = {f"kind.{k}" for k in KINDS}
    source = doc.source if role_at_least(user.role, "admin") else public_source(doc.source)
    return render(request, "document.html", {"doc": doc, "source": source, "chunks": chunks,
                                             "kind_keys": kind_keys}, user=user)


@router.get("/ui/chunks/{chunk_id}")
def chunk_json(chunk_id: str, request: Request, records: RecordsDep, kb: KBDep) -> Response:
    """The full passage behind a source card (the sidebar expands cards with it)."""
    user = session_user(request, records)
    if user is None:
        return JSONResponse({"detail": translate("err.sign_in", lang_of(request))}, status_code=401)
    chunk = kb.get_chunk(chunk_id)
    if chunk is None:
        return JSONResponse({"detail": translate("err.no_passage", lang_of(request), id=chunk_id)},
                            status_code=404)
    return JSONResponse({"chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id, "section": chunk.section,
                         "text": chunk.text, "title": chunk.title})


@router.get("/widget.js")
def widget_js(request: Request) -> Response:
    lang = lang_of(request)
    strings = {"open": translate("widget.open", lang), "close": translate("widget.close", lang)}
    body = WIDGET_JS.read_text(encoding="utf-8").replace("__STRINGS__", json.dumps(strings, ensure_ascii=False))
    return Response(body, media_type="application/javascript; charset=utf-8",
                    headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})


@router.get("/widget-demo", response_class=HTMLResponse)
def widget_demo(request: Request) -> Response:
    from ui.i18n import translator

    lang = lang_of(request)
    response = templates.TemplateResponse(request, "widget_demo.html", {"lang": lang, "t": translator(lang)})
    remember_lang(request, response)
    return response
