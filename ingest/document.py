"""From a loaded file to one ``Document`` and its ``Chunk``s, ready for ``KnowledgeBase.upsert_document``.

Kind, in order of precedence: the ``kind`` asked for (``--kind``; for record files only "faq" or
"case" apply), the front matter's kind, the record type of a FAQ/case file, then a guess from the
text: ``regulation`` when it is 第X条-style legal text (at least two articles), ``procedure`` when
it has a numbered outline (一、/(一)/1.) or headings, else ``other``.

Title: the front matter's, else the statute info header's, else the first heading (or the
page/document title of HTML, Word and PDF), else the file name without its extension.

Personal numbers (ID cards, bank cards, mobiles, e-mails) are masked with ``kb.text.pii`` in
every block and every record field, in the title, the source name (an upload named
``投诉_13911223344.md``) and the product, version and tags, before anything is chunked or stored
(so chunk meta and search tokens never hold them), except the organisation's own published
contacts a Markdown document lists in its front matter (``public_contacts``: the complaint mailbox
of a procedure, say). The document's meta counts what was masked (``personal_numbers``), so the
web layer knows not to keep such an upload's original file.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from ingest.chunking import chunk_blocks, section_string
from ingest.loaders.base import Block, Loaded
from kb.errors import IngestError
from kb.text.pii import mask_pii
from kb.types import KINDS, Chunk, Document, make_chunk_id

DOC_META_KEYS = ("product", "version", "effective_date", "expiry_date", "tags")
_ARTICLE_LINE_RE = re.compile(r"^第[零〇一二三四五六七八九十百千两\d]+[条條]")
_OUTLINE_RE = re.compile(r"(?:^|[。!?;\s])(?:[一二三四五六七八九十]{1,3}、|\([一二三四五六七八九十]{1,3}\)|\d{1,2}[.、]\D)")


def guess_kind(blocks: list[Block]) -> str:
    if sum(1 for b in blocks if not b.level and _ARTICLE_LINE_RE.match(b.text)) >= 2:
        return "regulation"
    if any(b.level for b in blocks[1:]) or sum(len(_OUTLINE_RE.findall(b.text)) for b in blocks) >= 2:
        return "procedure"
    return "other"


def resolve_kind(loaded: Loaded, kind: str | None) -> str:
    if kind is not None and kind not in KINDS:
        raise IngestError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if loaded.records is not None:
        return loaded.kind or "faq"
    if kind:
        return kind
    return loaded.kind or guess_kind(loaded.blocks)


_RECORD_TITLES = {"faq": "常见问题", "case": "历史案例"}
_GENERIC_STEMS = {"faq", "faqs", "case", "cases", "qa", "常见问题", "历史案例", "案例"}


def _default_title(source: str, record_kind: str | None) -> str:
    stem = PurePath(source.removeprefix("upload:")).stem or source
    if record_kind is None:
        return stem
    base = _RECORD_TITLES[record_kind]
    return base if stem.lower() in _GENERIC_STEMS else f"{base}：{stem}"


def _chunk_meta(doc_meta: dict[str, Any], title: str, kind: str, source: str, **extra) -> dict[str, Any]:
    meta = {"title": title, "kind": kind, "source": source, "page": None}
    meta.update({k: doc_meta.get(k) for k in DOC_META_KEYS})
    meta["tags"] = list(doc_meta.get("tags") or [])
    meta.update(extra)
    return meta


class _Masker:
    """Masks text and counts the personal numbers it took out."""

    def __init__(self, keep: frozenset[str] = frozenset()) -> None:
        self.keep = keep
        self.count = 0

    def __call__(self, text: str) -> str:
        result = mask_pii(text, self.keep)
        self.count += sum(result.found.values())
        return result.text

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


def _faq_chunk(rec: dict[str, Any], mask: _Masker) -> tuple[str, str, dict[str, Any]]:
    question, answer = mask(rec["question"]), mask(rec["answer"])
    similar = [mask(q) for q in rec.get("similar_questions") or []]
    extra: dict[str, Any] = {"record": "faq", "keys": [question, *[q for q in similar if q != question]]}
    if rec.get("product"):
        extra["product"] = mask(rec["product"])
    if rec.get("tags"):
        extra["tags"] = mask.value(rec["tags"])
    return f"问：{question}\n答：{answer}", question, extra


def _case_chunk(rec: dict[str, Any], mask: _Masker) -> tuple[str, str, dict[str, Any]]:
    rec = {k: mask.value(v) for k, v in rec.items()}
    head = "，".join(v for v in (rec.get("date"), rec.get("category"), rec.get("product")) if v)
    parts = [f"案例 {rec['case_id']}" + (f"（{head}）" if head else "")]
    parts.append(f"客户问题：{mask(rec['customer_issue'])}")
    parts.append(f"处理结果：{mask(rec['resolution'])}")
    if rec.get("outcome"):
        parts.append(f"结果：{mask(rec['outcome'])}")
    extra: dict[str, Any] = {"record": "case", "case_id": rec["case_id"], "outcome": rec.get("outcome")}
    if rec.get("product"):
        extra["product"] = rec["product"]
    if rec.get("category"):
        extra["category"] = rec["category"]
    if rec.get("date"):
        extra["date"] = rec["date"]
    return "\n".join(parts), f"案例 {rec['case_id']}", extra


def build_document(
    loaded: Loaded,
    *,
    doc_id: str,
    source: str,
    source_key: str | None = None,
    kind: str | None = None,
    content_hash: str | None = None,
    pipeline_version: str | None = None,
) -> tuple[Document, list[Chunk]]:
    """The Document (cleaned display text, meta) and its chunks, in document order."""
    kind = resolve_kind(loaded, kind)
    mask = _Masker(frozenset(loaded.meta.get("public_contacts") or ()))
    title = mask(loaded.title or _default_title(source, kind if loaded.records is not None else None))
    source = mask(source)
    meta: dict[str, Any] = {k: mask.value(loaded.meta.get(k)) for k in DOC_META_KEYS
                            if loaded.meta.get(k) is not None}
    meta["tags"] = list(meta.get("tags") or [])
    meta.update({"format": loaded.format, "source_key": source_key or source})
    if loaded.meta.get("pages"):
        meta["pages"] = loaded.meta["pages"]
    if content_hash:
        meta["content_hash"] = content_hash
    if pipeline_version:
        meta["pipeline_version"] = pipeline_version

    chunks: list[Chunk] = []
    seen: set[str] = set()

    def add(text: str, section: str, span, extra: dict[str, Any]) -> None:
        chunk_id = make_chunk_id(doc_id, text, section)
        if chunk_id in seen:  # the very same text twice in one section adds nothing
            return
        seen.add(chunk_id)
        chunk_meta = _chunk_meta(meta, title, kind, source, ord=len(chunks), **extra)
        chunks.append(Chunk(chunk_id, doc_id, text, section, span, chunk_meta))

    if loaded.records is not None:
        make = _faq_chunk if kind == "faq" else _case_chunk
        texts = []
        for rec in loaded.records:
            text, section, extra = make(rec, mask)
            start = sum(len(t) + 2 for t in texts)
            texts.append(text)
            add(text, section, (start, start + len(text)), extra)
        doc_text = "\n\n".join(texts)
    else:
        blocks = [Block(mask(b.text), b.level, b.page) for b in loaded.blocks]
        doc_text, pieces = chunk_blocks(blocks, title)
        for p in pieces:
            add(p.text, section_string(p.section), (p.start, p.end), {"page": p.page})
    if not chunks:
        raise IngestError(f"{source}: nothing to index (no text found)")
    if mask.count:
        meta["personal_numbers"] = mask.count
    return Document(doc_id, title, kind, source, doc_text, meta), chunks
