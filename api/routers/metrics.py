"""GET /api/metrics/accuracy — live acceptance, edit, rejection and abstention rates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import RecordsDep, TrainerUser

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
