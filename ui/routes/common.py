"""What every page route shares: the Jinja2 environment (autoescape on), the language, the
session's CSRF token, the signed-in user and the role guard that redirects or answers 403."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from evals.labels import metric_help, metric_name, metric_value
from kb.knowledge import KnowledgeBase
from kb.records import Records, role_at_least
from kb.records.models import User
from kb.settings import Settings, get_settings
from ui.i18n import COOKIE, DEFAULT_LANG, js_strings, normalise_lang, translator

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))  # .html templates autoescape

# The objects the app's lifespan (api.app) builds once and keeps on app.state; the pages read them
# through these, as the API's routers do through api.deps (the web pages do not import the API).
def _kb(request: Request) -> KnowledgeBase:
    return request.app.state.kb


def _records(request: Request) -> Records:
    return request.app.state.records


SettingsDep = Annotated[Settings, Depends(get_settings)]
KBDep = Annotated[KnowledgeBase, Depends(_kb)]
RecordsDep = Annotated[Records, Depends(_records)]

# (href, catalogue key, minimum role) — the role decides which links appear
NAV = [
    ("/sidebar", "nav.sidebar", "agent"),
    ("/complaints", "nav.complaints", "agent"),
    ("/service", "nav.service", "supervisor"),
    ("/trainer/qasets", "nav.qasets", "trainer"),
    ("/trainer/review", "nav.review", "trainer"),
    ("/trainer/keys", "nav.keys", "trainer"),
    ("/trainer/evals", "nav.evals", "trainer"),
    ("/trainer/dashboard", "nav.dashboard", "trainer"),
    ("/trainer/spotchecks", "nav.spotchecks", "trainer"),
    ("/admin/documents", "nav.documents", "admin"),
    ("/admin/health", "nav.health", "admin"),
    ("/admin/users", "nav.users", "admin"),
    ("/admin/audit", "nav.audit", "admin"),
]


def lang_of(request: Request) -> str:
    return (normalise_lang(request.query_params.get("lang")) or normalise_lang(request.cookies.get(COOKIE))
            or DEFAULT_LANG)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use; forms carry it, scripts send X-CSRF-Token."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> bool:
    expected = request.session.get("csrf") or ""
    return bool(expected) and secrets.compare_digest(submitted or "", expected)


def session_user(request: Request, records: Records) -> User | None:
    """The signed-in user while the session's server-side record stands (kb.records.sessions):
    signing out, a password change or deactivation ends it, whatever the cookie still says."""
    token = request.session.get("sid")
    if token is None:
        return None
    user = records.session_user(token)
    if user is None:
        request.session.pop("sid", None)
    return user


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, user: User | None = None,
           status_code: int = 200) -> HTMLResponse:
    lang = lang_of(request)
    role = user.role if user else None
    ctx = {
        "lang": lang,
        "t": translator(lang),
        "csrf": csrf_token(request),
        "user": user,
        "nav": [(href, key) for href, key, minimum in NAV if role and role_at_least(role, minimum)],
        "current_path": request.url.path,
        "js_strings": js_strings(lang),
        # evaluation metrics by name, with what they measure, and their values as a trainer reads them
        "mname": lambda key: metric_name(key, lang),
        "mhelp": lambda key: metric_help(key, lang),
        "mvalue": lambda key, value: metric_value(key, value, lang),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    remember_lang(request, response)
    return response


def remember_lang(request: Request, response: Response) -> None:
    chosen = normalise_lang(request.query_params.get("lang"))
    if chosen:
        response.set_cookie(COOKIE, chosen, max_age=365 * 24 * 3600, samesite="lax")


def error_page(request: Request, status_code: int, user: User | None, title_key: str, body_key: str | None = None,
               message: str = "") -> HTMLResponse:
    return render(request, "error.html", {"title_key": title_key, "body_key": body_key, "message": message},
                  user=user, status_code=status_code)


def guard(request: Request, records: Records, minimum: str) -> User | Response:
    """The signed-in user when their role is at least `minimum`; otherwise a redirect to /login
    (signed out) or a 403 page (role too low). Routes return the Response as it is."""
    user = session_user(request, records)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    if not role_at_least(user.role, minimum):
        return error_page(request, 403, user, "error.403.title", "error.403.body")
    return user


def guard_form(request: Request, records: Records, minimum: str, csrf: str | None) -> User | Response:
    """`guard` for a form post: the user must also have sent the session's CSRF token."""
    user = guard(request, records, minimum)
    if not isinstance(user, Response) and not check_csrf(request, csrf):
        return error_page(request, 403, user, "error.403.title", "login.csrf_failed")
    return user


def safe_next(value: str | None) -> str:
    """Only same-site paths are followed after sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/sidebar"
