"""The trainer's question-keys page: every key a company's own use added, with where it came from
(a graded Q&A item, an accepted reply, a trainer), and removing them by origin (kb.index.added_keys)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb.errors import CiteDeskError
from kb.index.added_keys import origin_kind
from kb.keys import list_keys
from ui.routes.common import KBDep, RecordsDep, guard, guard_form, render

router = APIRouter(prefix="/trainer")


@router.get("/keys", response_class=HTMLResponse)
def keys_page(request: Request, records: RecordsDep, kb: KBDep, removed: int | None = None,
              error: str | None = None) -> Response:
    user = guard(request, records, "trainer")
    if isinstance(user, Response):
        return user
    titles = {d.doc_id: d.title for d in kb.documents()}
    rows = [{"key": k, "title": titles.get(k.doc_id, k.doc_id), "kind": origin_kind(k.origin)} for k in list_keys(kb)]
    return render(request, "trainer/keys.html", {"rows": rows, "removed": removed, "error": error}, user=user)


@router.post("/keys/remove")
def remove(request: Request, records: RecordsDep, origin: str = Form(""), csrf: str = Form("")) -> Response:
    user = guard_form(request, records, "trainer", csrf)
    if isinstance(user, Response):
        return user
    try:
        result = request.app.state.writes.question_keys("remove_question_keys", origin=origin)
    except CiteDeskError as exc:
        return RedirectResponse(f"/trainer/keys?error={quote(str(exc))}", status_code=303)
    records.audit(user.username, "question_key.remove", origin, {"removed": result["removed"]})
    return RedirectResponse(f"/trainer/keys?removed={result['removed']}", status_code=303)
