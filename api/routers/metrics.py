"""GET /api/metrics/accuracy — live acceptance, edit, rejection and abstention rates (trainer+);
GET /api/metrics/kpis — the service KPIs, as JSON or CSV, and GET /api/metrics/overdue — the
overdue complaints (supervisor+)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from api.deps import RecordsDep, SupervisorUser, TrainerUser

router = APIRouter(prefix="/api/metrics", tags=["metrics"])


class Rates(BaseModel):
    interactions: int
    with_feedback: int
    accepted_rate: float | None
    edited_rate: float | None
    rejected_rate: float | None
    abstention_rate: float | None


class DayRates(Rates):
    day: str


class EvalTrend(BaseModel):
    set_name: str
    latest: dict[str, Any]
    trend: list[dict[str, Any]]
    change: float | None


class Accuracy(BaseModel):
    days: int
    overall: Rates
    per_topic: dict[str, Rates]
    per_product: dict[str, Rates]
    per_day: list[DayRates]
    evals: list[EvalTrend]


@router.get("/accuracy", response_model=Accuracy)
def accuracy(user: TrainerUser, records: RecordsDep, days: int = Query(30, ge=1, le=3650)) -> dict[str, Any]:
    return records.accuracy_metrics(days=days)


class KpiReport(BaseModel):
    period: str
    by: str | None
    since: str
    until: str
    timezone: str
    rows: list[dict[str, Any]]
    totals: list[dict[str, Any]]


class Overdue(BaseModel):
    complaints: int
    response: int
    resolution: int
    followup: int


def _cell(value: Any) -> Any:
    """A CSV cell; a team or topic name that a spreadsheet would run as a formula is quoted (the Q&A
    sets' guard)."""
    from evals.qaset.sheets import _no_formula

    return "" if value is None else _no_formula(value)


def kpis_csv(report: dict[str, Any]) -> str:
    """One line per period and group; UTF-8 with a byte-order mark so spreadsheet programs read the Chinese."""
    import csv
    import io

    from kb.records.kpis import COUNTS, RATES

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = ["period", "start", "group", *COUNTS, *RATES]
    writer.writerow(columns)
    for row in report["rows"]:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return "\ufeff" + out.getvalue()


@router.get("/kpis", response_model=KpiReport, responses={200: {"content": {"text/csv": {}}}})
def kpis(user: SupervisorUser, records: RecordsDep, period: str = Query("month", pattern="^(day|week|month)$"),
         by: str | None = Query(None, pattern="^(team|topic)$"), since: datetime | None = None,
         until: datetime | None = None, format: str = Query("json", pattern="^(json|csv)$")) -> Any:
    """The service KPIs per day, week or month, per agent team or topic (docs/complaints.md
    defines each); `format=csv` downloads the rows as CSV."""
    report = records.service_kpis(period=period, by=by, since=since, until=until)
    if format == "csv":
        name = f"citedesk-kpis-{period}{'-' + by if by else ''}.csv"
        return Response(kpis_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return report


@router.get("/overdue", response_model=Overdue)
def overdue(user: SupervisorUser, records: RecordsDep) -> Any:
    """How many complaints are overdue, and on what: first response, resolution, follow-up call."""
    return records.overdue_count()
