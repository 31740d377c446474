"""What a document and its chunks become before the index stores them: checked chunks carrying
the document meta that filters and citations need, a fingerprint that tells an unchanged document,
and the vector entries (each chunk's text, and each FAQ key question) the vector store keeps."""

from __future__ import annotations

import dataclasses
import json

from kb.errors import ValidationError
from kb.index.embedders import Embedder
from kb.index.lexical import index_text
from kb.index.vectorstore import VectorEntry
from kb.types import KINDS, Chunk, Document, stable_hash

# document meta copied onto each chunk so a Hit carries what filters and citations need
INHERITED = ("product", "version", "effective_date", "expiry_date", "tags")


def prepare_chunks(doc: Document, chunks: list[Chunk]) -> list[Chunk]:
    """The chunks as stored, or ValidationError for a document or chunk that cannot be."""
    if not isinstance(doc, Document) or not doc.doc_id or not str(doc.title).strip():
        raise ValidationError("a document needs a doc_id and a title")
    if doc.kind not in KINDS:
        raise ValidationError(f"unknown document kind {doc.kind!r}; use one of {', '.join(KINDS)}")
    seen: set[str] = set()
    out = []
    for i, c in enumerate(chunks):
        if c.doc_id != doc.doc_id:
            raise ValidationError(f"chunk {c.chunk_id} belongs to {c.doc_id}, not to {doc.doc_id}")
        if not c.chunk_id or c.chunk_id in seen:
            raise ValidationError(f"chunk ids must be present and unique (got {c.chunk_id!r} twice or empty)")
        if not c.text.strip():
            raise ValidationError(f"chunk {c.chunk_id} has no text")
        seen.add(c.chunk_id)
        meta = {"ord": i, **c.meta, "title": doc.title, "kind": doc.kind, "source": doc.source}
        for key in INHERITED:
            if key in doc.meta:
                meta.setdefault(key, doc.meta[key])
        out.append(dataclasses.replace(c, meta=meta, span=tuple(c.span) if c.span else None))
    return out


def fingerprint(doc: Document, chunks: list[Chunk]) -> str:
    body = json.dumps(
        [dataclasses.asdict(doc), [dataclasses.asdict(c) for c in chunks]], ensure_ascii=False, sort_keys=True
    )
    return stable_hash(body, length=32)


def vector_entries(embedder: Embedder, chunks: list[Chunk]) -> list[VectorEntry]:
    texts, owners = [], []
    for c in chunks:
        texts.append(index_text(c))
        owners.append((c.chunk_id, c.chunk_id))
        for i, key in enumerate(c.meta.get("keys") or []):
            texts.append(str(key))
            owners.append((f"{c.chunk_id}#k{i}", c.chunk_id))
    vectors = embedder.embed_passages(texts) if texts else []
    return [VectorEntry(eid, cid, v) for (eid, cid), v in zip(owners, vectors, strict=True)]
