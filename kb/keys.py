"""Adding, listing and removing the question keys a company's own use gives a knowledge base
(kb.index.added_keys says what they are and where each comes from)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from kb.errors import NotFoundError, ValidationError
from kb.index import added_keys
from kb.index.added_keys import AddedKey
from kb.knowledge import KnowledgeBase


def list_keys(kb: KnowledgeBase, origin: str | None = None) -> list[AddedKey]:
    """Every added key, or those whose origin is `origin` or starts with `origin` + "#"/":"."""
    keys = added_keys.parse(kb.catalog.get_state(added_keys.STATE_KEY))
    if origin:
        keys = [k for k in keys if k.origin == origin or k.origin.startswith((origin + "#", origin + ":"))]
    return keys


def _save_and_apply(kb: KnowledgeBase, keys: list[AddedKey], doc_ids: Iterable[str]) -> None:
    kb.catalog.set_state({added_keys.STATE_KEY: added_keys.dump(keys)})
    for doc_id in dict.fromkeys(doc_ids):
        doc = kb.get_document(doc_id)
        if doc is not None:  # upsert_document applies the stored keys
            kb.upsert_document(doc, kb.chunks_of(doc_id))


def add_keys(kb: KnowledgeBase, items: Iterable[tuple[str, str, str]], by: str = "") -> list[AddedKey]:
    """Add (chunk id, question, origin) keys; a question the chunk has already is skipped. Every
    item is checked before anything is stored. Returns the keys added."""
    kb._require_writer()
    with kb._write_lock:
        existing = added_keys.parse(kb.catalog.get_state(added_keys.STATE_KEY))
        have = {(k.chunk_id, k.question) for k in existing}
        now = datetime.now(UTC).isoformat(timespec="seconds")
        new: list[AddedKey] = []
        for chunk_id, question, origin in items:
            chunk = kb.get_chunk(chunk_id)
            if chunk is None:
                raise NotFoundError(f"no chunk {chunk_id!r} in the knowledge base")
            q = added_keys.clean_question(question)
            added_keys.check_origin(origin)
            own = {str(x) for x in chunk.meta.get("keys") or []}
            if (chunk_id, q) in have or q in own:
                continue
            have.add((chunk_id, q))
            new.append(AddedKey(chunk.doc_id, chunk.section, chunk_id, q, origin, by, now))
        if new:
            _save_and_apply(kb, existing + new, [k.doc_id for k in new])
        return new


def remove_keys(kb: KnowledgeBase, origin: str) -> int:
    """Remove every added key of `origin` (as list_keys matches it), with its vectors."""
    kb._require_writer()
    if not origin or not origin.strip():
        raise ValidationError("say which origin's keys to remove")
    with kb._write_lock:
        existing = added_keys.parse(kb.catalog.get_state(added_keys.STATE_KEY))
        gone = set(list_keys(kb, origin))
        keep = [k for k in existing if k not in gone]
        if gone:
            _save_and_apply(kb, keep, [k.doc_id for k in gone])
        return len(gone)
