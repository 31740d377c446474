"""The records database: users, API keys, interactions, feedback, Q&A sets, eval runs, audit."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kb.records.models import ROLES, VERDICTS, role_at_least
from kb.records.repo import Records

SECRET_FIELDS = {"secret_key", "llm_api_key", "judge_api_key", "database_url", "redis_url", "records_key"}


def settings_snapshot(settings: Any) -> dict[str, Any]:
    """The settings as JSON-able values, without secrets (passwords in URLs included)."""
    data = json.loads(settings.model_dump_json())
    for k in SECRET_FIELDS:
        if data.get(k):
            data[k] = "***"
    return data


def settings_hash(settings: Any) -> str:
    """A short, stable fingerprint of the settings that shape answers (stored with each answer)."""
    blob = json.dumps(settings_snapshot(settings), sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


__all__ = ["ROLES", "VERDICTS", "Records", "role_at_least", "settings_hash", "settings_snapshot"]
