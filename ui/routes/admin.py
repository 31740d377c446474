"""Admin pages: documents (upload, list, delete, re-ingest — the buttons call the JSON API),
index health, users and API keys, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb.errors import CiteDeskError
from kb.records import ROLES
from kb.types import KINDS
from ui.i18n import CATALOGUE, DEFAULT_LANG, translate
from ui.routes.common import KBDep, RecordsDep, guard, guard_form, lang_of, render

router = APIRouter(prefix="/admin", include_in_schema=False)


def _admin(request: Request, records: Any) -> Any:
    return guard(request, records, "admin")


@router.get("/documents", response_class=HTMLResponse)
def documents(request: Request, records: RecordsDep, kb: KBDep) -> Response:
    user = _admin(request, records)
    if isinstance(user, Response):
        return user
    docs = sorted(kb.documents(), key=lambda d: (d.kind, d.title))
    return render(request, "admin/documents.html", {"docs": docs, "kinds": KINDS}, user=user)


@router.get("/health", response_class=HTMLResponse)
def health(request: Request, records: RecordsDep, kb: KBDep) -> Response:
    user = _admin(request, records)
    if isinstance(user, Response):
        return user
    stats = kb.stats()
    statuses: dict[str, int] = {}
    for d in kb.documents():
        statuses[d.status] = statuses.get(d.status, 0) + 1
    known = {k for k in CATALOGUE[DEFAULT_LANG] if k.startswith("health.")}  # a figure without a label keeps its key
    return render(request, "admin/health.html", {"stats": stats, "statuses": statuses, "known": known,
                                                 "encryption": records.encryption_status()}, user=user)


def _users_page(request: Request, records: Any, user: Any, **extra: Any) -> Response:
    ctx = {"users": records.users(), "keys": records.keys(), "roles": ROLES, "new_key": None, "error": None,
           "created": None, **extra}
    return render(request, "admin/users.html", ctx, user=user,
                  status_code=422 if extra.get("error") else 200)


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, records: RecordsDep) -> Response:
    user = _admin(request, records)
    if isinstance(user, Response):
        return user
    return _users_page(request, records, user)


@router.post("/users", response_class=HTMLResponse)
def create_user(request: Request, records: RecordsDep, username: str = Form(""), role: str = Form("agent"),
                password: str = Form(""), csrf: str = Form("")) -> Response:
    user = guard_form(request, records, "admin", csrf)
    if isinstance(user, Response):
        return user
    try:
        if len(password) < 8:
            from kb.errors import ValidationError

            raise ValidationError(translate("err.password_short", lang_of(request)))
        created = records.add_user(username, role, password)
    except CiteDeskError as exc:
        return _users_page(request, records, user, error=str(exc))
    records.audit(user.username, "user.add", created.username, {"role": role})
    return _users_page(request, records, user, created=created.username)


@router.post("/keys", response_class=HTMLResponse)
def create_key(request: Request, records: RecordsDep, name: str = Form(""), role: str = Form("agent"),
               csrf: str = Form("")) -> Response:
    user = guard_form(request, records, "admin", csrf)
    if isinstance(user, Response):
        return user
    try:
        key, raw = records.create_key(name, role)
    except CiteDeskError as exc:
        return _users_page(request, records, user, error=str(exc))
    records.audit(user.username, "key.create", key.prefix, {"name": key.name, "role": role})
    response = _users_page(request, records, user, new_key=raw)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: int, request: Request, records: RecordsDep, csrf: str = Form("")) -> Response:
    user = guard_form(request, records, "admin", csrf)
    if isinstance(user, Response):
        return user
    try:
        key = records.revoke_key(key_id)
    except CiteDeskError as exc:
        return _users_page(request, records, user, error=str(exc))
    records.audit(user.username, "key.revoke", key.prefix)
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, records: RecordsDep, actor: str = "", action: str = "", since: str = "") -> Response:
    user = _admin(request, records)
    if isinstance(user, Response):
        return user
    error = None
    when = None
    if since:
        try:
            when = datetime.fromisoformat(since)
        except ValueError:
            error = translate("err.bad_date", lang_of(request), value=since)
    events = records.audit_events(actor=actor.strip() or None, action=action.strip() or None, since=when, limit=300)
    return render(request, "admin/audit.html", {"events": events, "actor": actor, "action": action, "since": since,
                                                "error": error}, user=user)
