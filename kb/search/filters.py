"""Which documents a search may return: the caller's filters (kind, product, tags), validity on the
day (effective and expiry dates), and only the newest version of a product document in force."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from kb.text.norm import normalize
from kb.types import SearchFilters


@dataclass
class DocMeta:
    doc_id: str
    title: str
    kind: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)


# -- filters ---------------------------------------------------------------------------------

_VERSION_RE = re.compile(
    r"[\s_\-（(]*(?:v(?:er(?:sion)?)?\.?\s*\d+(?:\.\d+)*|第?\d+(?:\.\d+)*版|\d{4}(?:年)?(?:修订|修正)?版|\d{4}年(?:修订|修正))[)）]?",
    re.IGNORECASE,
)


def base_title(title: str, version: str | None = None) -> str:
    """The title without its version marker: "还款规则 v2" and "还款规则（2024版）" → "还款规则"."""
    t = normalize(title)
    if version:
        t = t.replace(normalize(str(version)), " ")
    t = _VERSION_RE.sub(" ", t)
    return re.sub(r"[\s_\-()（）]+", " ", t).strip()


def doc_status(meta: dict[str, Any], on_date: str | None = None) -> str:
    """"active", "expired" (expiry_date before the day) or "future" (effective_date after it)."""
    day = on_date or date.today().isoformat()
    return _status_on(meta, day)


def _status_on(meta: dict[str, Any], day: str) -> str:
    expiry, effective = meta.get("expiry_date"), meta.get("effective_date")
    if expiry and str(expiry) < day:
        return "expired"
    if effective and str(effective) > day:
        return "future"
    return "active"


def allowed_documents(docs: dict[str, DocMeta], filters: SearchFilters | None) -> set[str]:
    """Documents a search may return: filters, validity on the day, newest version in force."""
    f = filters or SearchFilters()
    day = f.on_date or date.today().isoformat()
    kinds = {f.kind} if isinstance(f.kind, str) else set(f.kind or [])
    tags = set(f.tags or [])
    allowed: dict[str, DocMeta] = {}
    for d in docs.values():
        if kinds and d.kind not in kinds:
            continue
        if f.product and d.meta.get("product") != f.product:
            continue
        if tags and not tags & set(d.meta.get("tags") or []):
            continue
        if not f.include_inactive and _status_on(d.meta, day) != "active":
            continue
        allowed[d.doc_id] = d
    if not f.include_inactive:
        newest: dict[tuple[str, str], DocMeta] = {}
        for d in allowed.values():
            if not d.meta.get("product"):
                continue
            key = (str(d.meta["product"]), base_title(d.title, d.meta.get("version")))
            cur = newest.get(key)
            if cur is None or _version_key(d) > _version_key(cur):
                newest[key] = d
        for d in list(allowed.values()):
            if d.meta.get("product"):
                key = (str(d.meta["product"]), base_title(d.title, d.meta.get("version")))
                if newest[key].doc_id != d.doc_id:
                    del allowed[d.doc_id]
    return set(allowed)


def _version_key(d: DocMeta) -> tuple:
    nums = tuple(int(x) for x in re.findall(r"\d+", str(d.meta.get("version") or "")))
    return (str(d.meta.get("effective_date") or ""), nums, d.doc_id)
