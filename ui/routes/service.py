"""The service KPI dashboard (supervisor+): overdue complaints, and per day, week or month, per
agent team or topic, the complaint rate, on-time response, handling and follow-up, satisfaction and
answer accuracy as charts and a table, with a CSV download. And the spot-check page (trainer+):
draw a sample of conversations, grade them on the rubric, turn a graded one into a Q&A item."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kb.errors import CiteDeskError, NotFoundError, ValidationError
from kb.records.kpis import RATES
from kb.records.routing import as_utc
from ui.chart import Series, legend, line_chart
from ui.i18n import translate
from ui.routes.common import RecordsDep, guard, guard_form, lang_of, render

router = APIRouter(include_in_schema=False)
CHARTED = ("complaint_rate", "on_time_handling_rate", "on_time_followup_rate", "satisfaction_rate",
           "answer_accuracy", "on_time_response_rate")


def kpi_charts(report: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """One line chart per KPI, one line per group, a point per period."""
    charts = []
    for name in CHARTED:
        points: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
        for row in report["rows"]:
            if row[name] is not None:
                points[row["group"]].append((datetime.combine(date.fromisoformat(row["start"]), time()), row[name]))
        series = [Series(group, pts) for group, pts in sorted(points.items())]
        title = translate(f"kpi.{name}", lang)
        charts.append({"name": name, "title": title, "legend": legend(series),
                       "svg": line_chart(series, title=title, width=480, height=200) if series else ""})
    return charts


@router.get("/service", response_class=HTMLResponse)
def dashboard(request: Request, records: RecordsDep, period: str = "week", by: str = "") -> Response:
    user = guard(request, records, "supervisor")
    if isinstance(user, Response):
        return user
    period = period if period in ("day", "week", "month") else "week"
    by = by if by in ("team", "topic") else ""
    report = records.service_kpis(period=period, by=by or None)
    lang = lang_of(request)
    csv_url = "/api/metrics/kpis?" + urlencode({"format": "csv", "period": period, **({"by": by} if by else {})})
    return render(request, "service/dashboard.html", {"report": report, "charts": kpi_charts(report, lang),
                                                     "rates": list(RATES), "overdue": records.overdue_count(),
                                                     "period": period, "by": by, "csv_url": csv_url}, user=user)


@router.get("/trainer/spotchecks", response_class=HTMLResponse)
def spotchecks(request: Request, records: RecordsDep, sample: str | None = None, error: str | None = None,
               done: str | None = None) -> Response:
    user = guard(request, records, "trainer")
    if isinstance(user, Response):
        return user
    samples = records.samples()
    current = sample or (samples[0]["sample"] if samples else None)
    rows = records.spot_checks(sample=current) if current else []
    return render(request, "trainer/spotchecks.html", {
        "samples": samples, "current": current, "rows": rows, "sets": records.qasets(), "error": error, "done": done,
        "topics": records.rules.topics, "agents": [u for u in records.users() if u.role == "agent"],
        "teams": sorted({u.team for u in records.users() if u.team}), "as_utc": as_utc}, user=user)


def _day(value: str, lang: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        return datetime.combine(date.fromisoformat(value.strip()), time())
    except ValueError as exc:
        raise ValidationError(translate("err.bad_date", lang, value=value)) from exc


@router.post("/trainer/spotchecks")
def draw(request: Request, records: RecordsDep, size: int = Form(10), agent: str = Form(""), team: str = Form(""),
         topic: str = Form(""), since: str = Form(""), until: str = Form(""), csrf: str = Form("")) -> Response:
    user = guard_form(request, records, "trainer", csrf)
    if isinstance(user, Response):
        return user
    lang = lang_of(request)
    try:
        agent_id = None
        if agent:
            found = records.get_user_by_name(agent)
            if found is None:
                raise NotFoundError(agent)
            agent_id = found.id
        zone = records.rules.zone
        lo, hi = _day(since, lang), _day(until, lang)
        sample, _ = records.draw_sample(user.username, size, agent_id=agent_id, team=team or None,
                                        topic=topic or None, since=lo.replace(tzinfo=zone) if lo else None,
                                        until=hi.replace(tzinfo=zone) if hi else None)
    except CiteDeskError as exc:
        return RedirectResponse(f"/trainer/spotchecks?error={quote(str(exc)[:500])}", status_code=303)
    return RedirectResponse(f"/trainer/spotchecks?sample={quote(sample)}", status_code=303)


@router.post("/trainer/spotchecks/{spot_id}")
def grade(spot_id: int, request: Request, records: RecordsDep, action: str = Form("grade"),
          accurate: str | None = Form(None), complete: str | None = Form(None), polite: str | None = Form(None),
          compliant: str | None = Form(None), comment: str = Form(""), qaset_id: str = Form(""),
          key_points: str = Form(""), reference_answer: str = Form(""), sample: str = Form(""),
          csrf: str = Form("")) -> Response:
    user = guard_form(request, records, "trainer", csrf)
    if isinstance(user, Response):
        return user
    back = f"/trainer/spotchecks?sample={quote(sample)}"
    try:
        if action == "item":
            if not qaset_id.isdigit():
                raise ValidationError(translate("err.choose_set", lang_of(request)))
            points = [x.strip() for x in key_points.splitlines() if x.strip()]
            item = records.spot_check_to_item(spot_id, int(qaset_id), user.username, points, reference_answer or None)
            records.audit(user.username, "qaset.promote", f"qaset {qaset_id} item {item.id}", {"spot_check": spot_id})
        else:
            records.grade_spot_check(spot_id, user.username, accurate=accurate is not None, complete=complete is not None,
                                     polite=polite is not None, compliant=compliant is not None, comment=comment or None)
    except CiteDeskError as exc:
        return RedirectResponse(f"{back}&error={quote(str(exc)[:500])}", status_code=303)
    return RedirectResponse(f"{back}&done={action}#spot-{spot_id}", status_code=303)
