"""Question keys added to a knowledge base after ingest, each with where it came from.

A question key is a customer's phrasing of a section (kb.search.fusion.key_evidence reads it as
evidence about its chunk). Keys come from the documents themselves (an FAQ's similar questions),
from key files (a bundle's question_keys/, ingest/question_keys.py), and — kept here — from a
company's own use of CiteDesk:

* ``qaset:<set>#<item>``: the question of a trainer's graded Q&A item, attached to its expected source;
* ``accepted:<interaction>``: a question whose suggested reply an agent accepted, confirmed by a
  trainer in the review queue;
* ``generated:<model>``: a question generated for the section at ingest (doc2query), marked as such;
* ``trainer:<name>``: typed by a trainer.

They are stored in the catalog's state (one JSON list under ``added_keys``), so a re-ingested
document gets them back (KnowledgeBase.upsert_document applies them to the chunk with the same
section), and removing an origin removes its keys and their vectors. On each chunk, meta["keys"]
holds every key and meta["key_origins"] maps the added ones to their origin (a trainer sees both).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from kb.errors import ValidationError
from kb.text.pii import mask_pii
from kb.types import Chunk

STATE_KEY = "added_keys"
ORIGIN_KINDS = ("qaset", "accepted", "generated", "trainer")
MAX_CHARS = 300


@dataclass(frozen=True)
class AddedKey:
    doc_id: str
    section: str
    chunk_id: str
    question: str
    origin: str
    added_by: str = ""
    added_at: str = ""

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def origin_kind(origin: str) -> str:
    """"accepted:12" → "accepted"."""
    return origin.split(":", 1)[0]


def check_origin(origin: str) -> str:
    kind = origin_kind(origin)
    if kind not in ORIGIN_KINDS or ":" not in origin or not origin.split(":", 1)[1].strip():
        raise ValidationError(f"a key's origin looks like <kind>:<what>, kind one of {', '.join(ORIGIN_KINDS)}; got {origin!r}")
    return origin


def clean_question(text: str) -> str:
    """The key as stored: stripped, personal numbers masked, not empty, not too long."""
    q = mask_pii(str(text).strip()).text
    if not q:
        raise ValidationError("a question key cannot be empty")
    if len(q) > MAX_CHARS:
        raise ValidationError(f"a question key has at most {MAX_CHARS} characters")
    return q


def parse(raw: str | None) -> list[AddedKey]:
    if not raw:
        return []
    return [AddedKey(**row) for row in json.loads(raw)]


def dump(keys: list[AddedKey]) -> str:
    return json.dumps([k.as_dict() for k in keys], ensure_ascii=False)


def apply(doc_id: str, chunks: list[Chunk], keys: list[AddedKey]) -> list[Chunk]:
    """The chunks with exactly the added keys of `keys` (earlier added keys no longer listed are
    taken off; a document's own keys stay). A key goes to the chunk it was added to, or, when that
    chunk's text changed, to the first chunk of the same section; a key whose section is gone waits."""
    mine = [k for k in keys if k.doc_id == doc_id]
    by_id = {c.chunk_id for c in chunks}
    first_of_section: dict[str, str] = {}
    for c in chunks:
        first_of_section.setdefault(c.section, c.chunk_id)
    target: dict[str, list[AddedKey]] = {}
    for k in mine:
        cid = k.chunk_id if k.chunk_id in by_id else first_of_section.get(k.section)
        if cid:
            target.setdefault(cid, []).append(k)
    out = []
    for c in chunks:
        previous = c.meta.get("key_origins") or {}
        own = [str(q) for q in c.meta.get("keys") or [] if str(q) not in previous]
        added = target.get(c.chunk_id, [])
        if not added and not previous:
            out.append(c)
            continue
        meta = {k: v for k, v in c.meta.items() if k not in ("keys", "key_origins")}
        origins = {k.question: k.origin for k in added if k.question not in own}
        keys_now = list(dict.fromkeys([*own, *origins]))
        if keys_now:
            meta["keys"] = keys_now
        if origins:
            meta["key_origins"] = origins
        out.append(dataclasses.replace(c, meta=meta))
    return out
