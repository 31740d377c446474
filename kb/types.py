"""The small typed records that pass between the stages of CiteDesk.

files ──ingest──▶ Document ──chunk──▶ Chunk ──embed+index──▶ store
question ──retrieve──▶ Hit ──compose+verify──▶ Answer(Citation...)

Ids are stable: a document id comes from its source identity, a chunk id from
the document id and the chunk's content, so re-ingesting an unchanged file
changes nothing and re-embeds nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

KINDS = ("product", "procedure", "regulation", "faq", "case", "other")


def stable_hash(*parts: str, length: int = 16) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()[:length]


def make_doc_id(source_identity: str) -> str:
    """Document id from the source's identity (e.g. its path relative to the ingest root)."""
    return "d_" + stable_hash(source_identity)


def public_source(source: str) -> str:
    """How a document's source is shown to anyone but an admin: an upload by its name
    ("upload:费率表.pdf"), a file by its name alone — never a path on the server."""
    source = str(source or "")
    if source.startswith("upload:"):
        return source
    return source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def make_chunk_id(doc_id: str, text: str, section: str = "") -> str:
    return "c_" + stable_hash(doc_id, section, text)


@dataclass
class Document:
    doc_id: str
    title: str
    kind: str
    source: str  # where it came from, as the user named it (path or upload name)
    text: str  # cleaned text for display, original script (Traditional stays Traditional)
    meta: dict[str, Any] = field(default_factory=dict)
    # meta keys in use: product, version, effective_date, expiry_date (ISO yyyy-mm-dd strings),
    # tags (list[str]), content_hash (sha256 of the source bytes), pages (int), format


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str
    text: str  # display text, original script
    section: str = ""  # section path, e.g. "第十二章 借款合同 > 第六百七十条"
    span: tuple[int, int] | None = None  # character offsets in Document.text, when known
    meta: dict[str, Any] = field(default_factory=dict)
    # meta keys in use: title, kind, source, page, product, version, effective_date,
    # expiry_date, tags, ord (position in the document), keys (FAQ questions that lead to
    # this chunk), record ("faq" | "case"), case_id, outcome

    @property
    def title(self) -> str:
        return self.meta.get("title", "")

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "other")


@dataclass
class Hit:
    chunk: Chunk
    score: float  # fused, calibrated relevance in [0, 1]
    signals: dict[str, float] = field(default_factory=dict)  # e.g. {"dense": .., "bm25": .., "key": ..}


@dataclass
class SearchFilters:
    kind: str | list[str] | None = None
    product: str | None = None
    tags: list[str] | None = None
    include_inactive: bool = False  # expired or not-yet-effective documents
    on_date: str | None = None  # ISO date the validity is judged on; default today


@dataclass
class Citation:
    n: int
    chunk_id: str
    doc_id: str
    title: str
    section: str
    source: str
    quote: str
    version: str | None = None
    part: str = "reply"  # where it is first cited: "reply" (to the customer) or "guidance" (for the agent)


@dataclass
class Answer:
    question: str  # masked
    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    confidence: float = 0.0
    flags: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    mode: str = "extractive"
    latency_ms: float = 0.0
    hits: list[Hit] = field(default_factory=list)  # the retrieved evidence (not serialised by default)
    features: dict[str, float] = field(default_factory=dict)  # the evidence the models read (kb.answer.evidence)
    abstain_reason: str | None = None  # the rule that withheld the reply (kb.answer.abstention), if one did
    # `text` is the whole answer: the reply to the customer, then the guidance for the agent. `reply`
    # is what may be sent as it is ("" when there is nothing to send); `guidance` holds the procedure
    # steps, internal rules and checks, one cited item each (kb.answer.parts)
    reply: str = ""
    guidance: list[str] = field(default_factory=list)
