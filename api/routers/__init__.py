"""One router per resource."""

from __future__ import annotations

from api.routers import (
    admin,
    ask,
    audit,
    cases,
    complaints,
    documents,
    evals,
    feedback,
    followups,
    health,
    metrics,
    offline,
    qasets,
    question_keys,
    search,
    spotchecks,
)

ROUTERS = [health.router, ask.router, search.router, feedback.router, metrics.router, documents.router,
           qasets.router, evals.router, audit.router, admin.router, complaints.router, cases.router,
           followups.router, spotchecks.router, offline.router, question_keys.router]
