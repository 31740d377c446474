"""A trainer's graded Q&A set as question keys: each answerable item's question becomes a key of
the chunk its expected source names (kb.index.added_keys, origin ``qaset:<set>#<item id>``)."""

from __future__ import annotations

from typing import Any

from evals.metrics import source_matches
from evals.qaset import QASet
from kb.text.norm import normalize


def source_chunks(kb: Any) -> dict[str, list[Any]]:
    """Chunks by normalised document title (what an expected source names)."""
    out: dict[str, list[Any]] = {}
    for info in kb.documents():
        chunks = kb.chunks_of(info.doc_id)
        for c in chunks:
            c.meta.setdefault("title", info.title)
        out.setdefault(normalize(info.title).strip(), []).extend(chunks)
    return out


def key_items(kb: Any, qaset: QASet) -> tuple[list[tuple[str, str, str]], list[str]]:
    """((chunk id, question, origin) per answerable item and expected source found, ids of the items
    whose expected sources are not in the knowledge base)."""
    by_title = source_chunks(kb)
    items, missing = [], []
    for item in qaset.items:
        if not item.answerable or not item.expected_sources:
            continue
        found = False
        for src in item.expected_sources:
            pool = (c for cs in by_title.values() for c in cs) if src.chunk_id else by_title.get(normalize(src.title).strip(), [])
            chunk = next((c for c in pool if source_matches(c, src)), None)
            if chunk is not None:
                items.append((chunk.chunk_id, item.question, f"qaset:{qaset.name}#{item.id}"))
                found = True
        if not found:
            missing.append(item.id)
    return items, missing
