"""Loaders: one file in, ``Loaded`` (blocks for a document, records for a FAQ/case file) out.

``load_file(path, kind=None)`` picks the loader from the file extension (``SUPPORTED_EXTENSIONS``).
"""

from __future__ import annotations

from pathlib import Path

from ingest.loaders.base import Block, Loaded
from kb.errors import IngestError

DOCUMENT_EXTENSIONS = {".md": "md", ".markdown": "md", ".txt": "txt", ".html": "html", ".htm": "html",
                       ".docx": "docx", ".pdf": "pdf"}  # fmt: skip
RECORD_EXTENSIONS = {".csv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl"}
SUPPORTED_EXTENSIONS = frozenset(DOCUMENT_EXTENSIONS) | frozenset(RECORD_EXTENSIONS)


def load_file(path: Path, kind: str | None = None) -> Loaded:
    """Load one file. ``kind`` "faq"/"case" picks the record type of a record file."""
    from ingest.loaders.office import load_docx, load_pdf
    from ingest.loaders.records import load_records
    from ingest.loaders.text import load_html, load_text

    path = Path(path)
    ext = path.suffix.lower()
    if ext in RECORD_EXTENSIONS:
        return load_records(path, RECORD_EXTENSIONS[ext], kind)
    fmt = DOCUMENT_EXTENSIONS.get(ext)
    if fmt in ("md", "txt"):
        return load_text(path, fmt)
    if fmt == "html":
        return load_html(path)
    if fmt == "docx":
        return load_docx(path)
    if fmt == "pdf":
        return load_pdf(path)
    supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
    raise IngestError(f"{path.name}: unsupported file type {ext or '(none)'}; supported: {supported}")


__all__ = ["Block", "Loaded", "load_file", "SUPPORTED_EXTENSIONS", "DOCUMENT_EXTENSIONS", "RECORD_EXTENSIONS"]
