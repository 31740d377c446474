"""Complaint pages: the list (an agent's own complaints; every complaint, overdue ones first to
hand, for a supervisor and above) and one complaint's page, whose forms edit it, move it through
its statuses, record the follow-up call and — for a trainer — promote it into a past case of the
knowledge base. The sidebar records complaints through the JSON API (static/js/complaint.js)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb.errors import CiteDeskError, NotFoundError, ValidationError
from kb.records.cases import case_draft
from kb.records.models import COMPLAINT_STATUSES, FOLLOWUP_OUTCOMES
from kb.records.routing import as_utc
from ui.i18n import translate
from ui.routes.common import KBDep, RecordsDep, SettingsDep, error_page, guard, guard_form, lang_of, render

router = APIRouter(include_in_schema=False)
ACTIONS = ("edit", "route", "extend", "resolve", "followup", "reopen", "close", "promote")


def _mine(user: Any, c: Any) -> bool:
    return c.agent_id == user.id


def may_see(user: Any, c: Any) -> bool:
    from kb.records import role_at_least

    return role_at_least(user.role, "supervisor") or _mine(user, c)


@router.get("/complaints", response_class=HTMLResponse)
def complaint_list(request: Request, records: RecordsDep, status: str | None = None, overdue: bool = False,
                   topic: str | None = None) -> Response:
    from kb.records import role_at_least

    user = guard(request, records, "agent")
    if isinstance(user, Response):
        return user
    status = status if status in COMPLAINT_STATUSES else None
    topic = topic if topic in records.rules.topics else None
    everyone = role_at_least(user.role, "supervisor")
    agent_id = None if everyone else user.id
    rows = records.complaints(status=status, overdue=overdue, topic=topic, agent_id=agent_id)
    tasks = records.followup_tasks(agent_id=agent_id)
    counts = records.overdue_count(agent_id=agent_id)
    return render(request, "complaints/list.html", {"rows": rows, "tasks": tasks, "counts": counts,
                                                   "everyone": everyone, "statuses": COMPLAINT_STATUSES,
                                                   "topics": records.rules.topics, "status": status,
                                                   "overdue": overdue, "topic": topic, "as_utc": as_utc,
                                                   "local": records.rules.local}, user=user)


@router.get("/complaints/{complaint_id}", response_class=HTMLResponse)
def complaint_page(complaint_id: int, request: Request, records: RecordsDep, done: str | None = None,
                   error: str | None = None) -> Response:
    from kb.records import role_at_least

    user = guard(request, records, "agent")
    if isinstance(user, Response):
        return user
    try:
        c = records.get_complaint(complaint_id)
    except NotFoundError:
        return error_page(request, 404, user, "error.404.title", message=str(complaint_id))
    if not may_see(user, c):
        return error_page(request, 403, user, "error.403.title", "complaint.not_yours")
    row = records.complaints(ticket=c.ticket_no, limit=1)
    _, open_f, kinds = row[0] if row else (c, None, [])
    followups = records.followups_of(c.id)
    trainer = role_at_least(user.role, "trainer")
    case = case_draft(c, followups) if trainer and c.status == "closed" and c.resolution else None
    if case and c.case_doc_id:
        case = {**case, "customer_issue": c.case_issue, "resolution": c.case_resolution}
    return render(request, "complaints/detail.html", {
        "c": c, "open_f": open_f, "overdue": kinds, "followups": followups, "history": records.complaint_history(c.id),
        "topics": records.rules.topics, "outcomes": FOLLOWUP_OUTCOMES, "case": case, "done": done, "error": error,
        "supervisor": role_at_least(user.role, "supervisor"), "local": records.rules.local}, user=user)


@router.post("/complaints/{complaint_id}")
def complaint_action(complaint_id: int, request: Request, records: RecordsDep, kb: KBDep, settings: SettingsDep,
                     action: str = Form(""), csrf: str = Form(""), narrative: str = Form(""), request_text: str = Form(""),
                     topic: str = Form(""), product: str = Form(""), amount: str = Form(""), department: str = Form(""),
                     reason: str = Form(""), resolution: str = Form(""), outcome: str = Form(""), note: str = Form(""),
                     followup_id: str = Form(""), customer_issue: str = Form("")) -> Response:
    from kb.records import role_at_least

    user = guard_form(request, records, "agent", csrf)
    if isinstance(user, Response):
        return user
    lang = lang_of(request)
    back = f"/complaints/{complaint_id}"
    try:
        c = records.get_complaint(complaint_id)
        if not may_see(user, c):
            return error_page(request, 403, user, "error.403.title", "complaint.not_yours")
        if action not in ACTIONS:
            raise ValidationError(translate("complaint.bad_action", lang))
        needs = {"extend": "supervisor", "promote": "trainer"}.get(action)
        if (needs and not role_at_least(user.role, needs)) or (action == "route" and department.strip()
                                                                 and not role_at_least(user.role, "supervisor")):
            return error_page(request, 403, user, "error.403.title", "error.403.body")
        name = user.username
        if action == "edit":
            value = float(amount) if amount.strip() else None
            records.update_complaint(c.id, name, narrative=narrative, request=request_text or None, topic=topic,
                                     product=product or None, amount=value)
        elif action == "route":
            records.route_complaint(c.id, name, department=department.strip() or None)
        elif action == "extend":
            records.extend_complaint(c.id, name, reason)
        elif action == "resolve":
            records.resolve_complaint(c.id, name, resolution)
        elif action == "followup":
            if not followup_id.isdigit() or all(f.id != int(followup_id) for f in records.followups_of(c.id)):
                raise ValidationError(translate("complaint.bad_action", lang))
            records.record_followup(int(followup_id), name, outcome, note or None)
        elif action == "reopen":
            records.reopen_complaint(c.id, name, reason)
        elif action == "close":
            records.close_complaint(c.id, name)
        elif action == "promote":
            from ingest.cases import promote_complaint

            jobs = request.app.state.jobs
            promote_complaint(kb, records, Path(settings.data_dir), c.id, name, customer_issue, resolution,
                              on_writer=lambda fn: jobs.run_on_writer(fn).result())
    except (CiteDeskError, ValueError) as exc:
        return RedirectResponse(f"{back}?error={quote(str(exc)[:500])}", status_code=303)
    return RedirectResponse(f"{back}?done={action}", status_code=303)
