"""The web pages. `router` gathers the page routes of every area; api/app.py includes it."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from ui.routes import admin, agent, complaints, keys, service, trainer

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False)
router.include_router(agent.router)
router.include_router(trainer.router)
router.include_router(keys.router)
router.include_router(admin.router)
router.include_router(complaints.router)
router.include_router(service.router)

__all__ = ["STATIC_DIR", "router"]
