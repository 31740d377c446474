"""Complaint topics, routing and deadlines, from a rule file a company edits: `CITEDESK_COMPLAINT_RULES`,
else the `rules/complaints.yaml` of the last loaded bundle that has one (kb/bundles.py; `credit_cs`
ships generic rules, `demo` the demo company's), else one department and the default deadlines.

A rule file lists routes in order: a route gives a topic (the complaint category) and the
department responsible for it, and matches a text when any of its keywords appears in it (no
keywords: any text) and, when it lists products, the complaint is about one of them. The first
route that matches wins; nothing matching gives `default_topic` and `default_department`. A route
may override the deadlines. Escalation (the customer going to a regulator or the press, harassment,
a large amount, or the agent's own call) hands the complaint to the escalation department with
its shorter response time.

Deadlines: the first response within `response_hours` clock hours of receipt; the resolution by
the end of the `resolve_working_days`-th working day after the day of receipt (the extended
deadline when a supervisor approves it); the follow-up call by the end of the
`followup_working_days`-th working day after resolution. Working days are the calendar's weekmask
without its holidays (numpy's business-day functions), in the rule file's time zone. The KPIs
count days, weeks and months in that time zone too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kb.bundles import load_bundles
from kb.errors import ConfigError
from kb.text.norm import normalize

RULES_FILE = "rules/complaints.yaml"  # in a bundle
PERIODS = ("day", "week", "month")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Deadlines(_Strict):
    response_hours: float = Field(24, gt=0, le=24 * 30)
    resolve_working_days: int = Field(7, ge=1, le=120)
    extended_resolve_working_days: int = Field(15, ge=1, le=240)
    followup_working_days: int = Field(3, ge=1, le=60)


class Route(_Strict):
    topic: str = Field(min_length=1, max_length=100)
    department: str = Field(min_length=1, max_length=100)
    keywords: list[str] = []
    products: list[str] = []
    response_hours: float | None = Field(None, gt=0)
    resolve_working_days: int | None = Field(None, ge=1)
    followup_working_days: int | None = Field(None, ge=1)


class Escalation(_Strict):
    department: str = Field(min_length=1, max_length=100)
    response_hours: float = Field(gt=0)
    signals: list[str] = []  # complaint signals (kb.answer.guards) that escalate: regulator, media, ...
    keywords: list[str] = []
    amount_over: float | None = Field(None, ge=0)


class Calendar(_Strict):
    weekmask: str = "Mon Tue Wed Thu Fri"
    holidays: list[date] = []


class RuleFile(_Strict):
    ticket_prefix: str = Field("TS", min_length=1, max_length=10, pattern=r"^[A-Za-z0-9-]+$")
    timezone: str = "Asia/Shanghai"
    calendar: Calendar = Calendar()
    deadlines: Deadlines = Deadlines()
    default_topic: str = Field("其他", min_length=1, max_length=100)
    default_department: str = Field(min_length=1, max_length=100)
    routes: list[Route] = []
    escalation: Escalation | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v


@dataclass(frozen=True)
class Routing:
    topic: str
    department: str
    escalated: bool
    response_hours: float
    resolve_working_days: int
    followup_working_days: int


def as_utc(dt: datetime) -> datetime:
    """SQLite returns UTC datetimes without a zone; everything here compares aware ones."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class ComplaintRules:
    def __init__(self, spec: RuleFile, source: str = "") -> None:
        self.spec = spec
        self.source = source
        self.zone = ZoneInfo(spec.timezone)
        try:
            np.busday_offset("2026-01-01", 0, roll="forward", weekmask=spec.calendar.weekmask)
        except ValueError as exc:
            raise ConfigError(f"{source}: calendar.weekmask {spec.calendar.weekmask!r} is not a weekmask such "
                              "as 'Mon Tue Wed Thu Fri'") from exc

    @classmethod
    def for_settings(cls, settings: Any = None) -> ComplaintRules:
        """The rules the settings name (CITEDESK_COMPLAINT_RULES, else the bundles'); None = the
        default bundles'."""
        explicit = getattr(settings, "complaint_rules", None)
        if explicit:
            return cls.load(explicit)
        found = [b.part(RULES_FILE) for b in load_bundles(getattr(settings, "bundles", None))]
        found = [p for p in found if p is not None]
        if found:
            return cls.load(found[-1])  # a company's bundle, listed last, replaces the shipped rules
        return cls(RuleFile(default_department="客户服务部"), "(no complaint rules: one department)")

    @classmethod
    def load(cls, path: Path | str) -> ComplaintRules:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the complaint rules {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        try:
            return cls(RuleFile.model_validate(data or {}), str(path))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{path}: {problems}") from exc

    # -- topics and routes -------------------------------------------------------------------
    @cached_property
    def topics(self) -> list[str]:
        seen = dict.fromkeys([r.topic for r in self.spec.routes] + [self.spec.default_topic])
        return list(seen)

    @cached_property
    def _keywords(self) -> list[list[str]]:
        return [[normalize(k) for k in r.keywords if k.strip()] for r in self.spec.routes]

    def _matches(self, i: int, norm_text: str, product: str | None) -> bool:
        route, words = self.spec.routes[i], self._keywords[i]
        if route.products and product not in route.products:
            return False
        return not words or any(w in norm_text for w in words)

    def topic_of(self, text: str, product: str | None = None) -> str:
        """The topic of a question or complaint: the first route whose keywords it contains."""
        norm = normalize(text or "")
        for i, route in enumerate(self.spec.routes):
            if self._keywords[i] and self._matches(i, norm, product):
                return route.topic
        return self.spec.default_topic

    def route(self, topic: str, product: str | None = None, text: str = "", signals: list[str] | None = None,
              amount: float | None = None, escalate: bool = False) -> Routing:
        """Department and deadlines of a complaint of this topic (the agent may have changed the
        drafted topic: the route is the first of that topic whose products fit)."""
        d = self.spec.deadlines
        chosen = next((r for r in self.spec.routes if r.topic == topic and (not r.products or product in r.products)),
                      None)
        department = chosen.department if chosen else self.spec.default_department
        response = (chosen.response_hours if chosen else None) or d.response_hours
        resolve = (chosen.resolve_working_days if chosen else None) or d.resolve_working_days
        followup = (chosen.followup_working_days if chosen else None) or d.followup_working_days
        esc = self.spec.escalation
        escalated = bool(esc) and (escalate or bool(set(signals or []) & set(esc.signals))
                                   or (esc.amount_over is not None and amount is not None and amount > esc.amount_over)
                                   or any(normalize(k) in normalize(text) for k in esc.keywords if k.strip()))
        if escalated:
            department, response = esc.department, min(response, esc.response_hours)
        return Routing(topic, department, escalated, response, resolve, followup)

    # -- time --------------------------------------------------------------------------------
    def local(self, dt: datetime) -> datetime:
        return as_utc(dt).astimezone(self.zone)

    def _working_day_end(self, start: datetime, days: int) -> datetime:
        cal = self.spec.calendar
        day = np.busday_offset(self.local(start).date().isoformat(), days, roll="forward",
                               weekmask=cal.weekmask, holidays=[h.isoformat() for h in cal.holidays])
        end = datetime.combine(date.fromisoformat(str(day)), time(23, 59, 59), tzinfo=self.zone)
        return end.astimezone(UTC)

    def response_due(self, received: datetime, routing: Routing) -> datetime:
        return as_utc(received) + timedelta(hours=routing.response_hours)

    def resolve_due(self, received: datetime, days: int) -> datetime:
        return self._working_day_end(received, days)

    def extended_due(self, received: datetime) -> datetime:
        return self._working_day_end(received, self.spec.deadlines.extended_resolve_working_days)

    def followup_due(self, resolved: datetime, days: int) -> datetime:
        return self._working_day_end(resolved, days)

    def bucket(self, dt: datetime, period: str) -> str:
        """The day (2026-03-02), ISO week (2026-W10) or month (2026-03) of a moment, locally."""
        d = self.local(dt).date()
        if period == "day":
            return d.isoformat()
        if period == "week":
            year, week, _ = d.isocalendar()
            return f"{year}-W{week:02d}"
        if period == "month":
            return f"{d.year}-{d.month:02d}"
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")

    def ticket_no(self, received: datetime, row_id: int) -> str:
        return f"{self.spec.ticket_prefix}{self.local(received):%Y%m%d}-{row_id:05d}"

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, **self.spec.model_dump(mode="json")}
