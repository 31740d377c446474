"""The offline pack: one self-contained static HTML file (`citedesk export offline-pack`) that
agents open from disk when CiteDesk or the network is down (the drill is in docs/operations.md).

It holds the documents in force that agents answer from — FAQs, procedures, products (expired and
not-yet-effective versions left out) — every passage readable without JavaScript, and a search box
that works in the browser with no server: the passages' search text is embedded as JSON with a
Traditional→Simplified character map, so a question typed in either script finds them.

The search is hand-written (offline_pack.js): a library such as lunr or MiniSearch would have to
be copied into every pack, and neither segments Chinese without a dictionary; overlapping
character pairs (bigrams) of the question, weighted by how rare they are among the passages, find
Chinese passages well enough for the few hundred passages of a pack.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from kb.text.norm import normalize, to_simplified
from ui.i18n import translator
from ui.routes.common import templates

KINDS = ("faq", "procedure", "product")
STATIC_JS = Path(__file__).resolve().parent / "static" / "js" / "offline_pack.js"
PACK_FILE = "index.html"


@lru_cache(maxsize=1)
def t2s_map() -> dict[str, str]:
    """Traditional → Simplified for single CJK characters (OpenCC, one character at a time)."""
    chars = [chr(c) for c in range(0x4E00, 0xA000)]
    converted = to_simplified("\n".join(chars)).split("\n")
    return {t: s for t, s in zip(chars, converted, strict=True) if t != s and len(s) == 1}


def pack_documents(kb: Any, kinds: tuple[str, ...] = KINDS) -> list[dict[str, Any]]:
    """The documents in force of the given kinds, each with its passages in document order."""
    docs = []
    for d in sorted(kb.documents(), key=lambda d: (KINDS.index(d.kind) if d.kind in KINDS else 9, d.title)):
        if d.status != "active" or d.kind not in kinds:
            continue
        chunks = sorted(kb.chunks_of(d.doc_id), key=lambda c: (c.meta.get("ord", 0), c.span or (0, 0)))
        passages = []
        for c in chunks:
            keys = [k for k in (c.meta.get("keys") or []) if isinstance(k, str)]
            passages.append({"id": c.chunk_id, "section": c.section, "text": c.text,
                             "search": normalize(unicodedata.normalize("NFKC", " ".join([d.title, c.section, c.text,
                                                                                         *keys])))})
        docs.append({"doc_id": d.doc_id, "title": d.title, "kind": d.kind, "version": d.meta.get("version"),
                     "product": d.meta.get("product"), "effective_date": d.meta.get("effective_date"),
                     "passages": passages})
    return docs


def render_pack(kb: Any, lang: str = "zh-CN", kinds: tuple[str, ...] = KINDS,
                now: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """The pack's HTML and a summary (documents, passages, snapshot, when)."""
    docs = pack_documents(kb, kinds)
    when = (now or datetime.now(UTC)).astimezone(UTC)
    summary = {"documents": len(docs), "passages": sum(len(d["passages"]) for d in docs),
               "snapshot_id": str(getattr(kb, "snapshot_id", "") or ""), "generated_at": when.isoformat(timespec="seconds"),
               "kinds": list(kinds)}
    index = [{"id": p["id"], "d": i, "s": p["search"]} for i, d in enumerate(docs) for p in d["passages"]]
    data = {"docs": [{"title": d["title"], "kind": d["kind"], "version": d["version"]} for d in docs],
            "index": index, "t2s": t2s_map()}
    html = templates.env.get_template("offline/pack.html").render(
        t=translator(lang), lang=lang, docs=docs, data=data, summary=summary,
        script=STATIC_JS.read_text(encoding="utf-8"))
    return html, summary


def write_pack(kb: Any, out_dir: Path, lang: str = "zh-CN", kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """Write `out_dir/index.html` (atomically: a reader never finds half a pack)."""
    html, summary = render_pack(kb, lang, kinds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".pack-", suffix=".html")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_dir / PACK_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {**summary, "file": str(out_dir / PACK_FILE), "bytes": len(html.encode("utf-8"))}
