"""One router per resource."""

from __future__ import annotations

from api.routers import admin, ask, audit, documents, evals, feedback, health, metrics, qasets, search

ROUTERS = [health.router, ask.router, search.router, feedback.router, metrics.router, documents.router,
           qasets.router, evals.router, audit.router, admin.router]
