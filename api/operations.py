"""The writes the server makes to the knowledge base on an admin's request: ingest an upload,
re-ingest a document from its kept file, delete a document, re-embed everything (reindex).

Each is a plain function of the knowledge base opened as the writer, run by the one writer there
is: the server's writer thread in the embedded default (api.writes.LocalWrites), or `citedesk
worker` taking jobs from the queue in a shared deployment (api.writes.QueuedWrites, api.worker).
A function raises CiteDeskError for a failure the admin can act on (a corrupt file, an unknown
document); nothing stored changes then.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from pathlib import Path
from typing import Any

from kb.errors import IngestError, NotFoundError

UPLOADS = "uploads"
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


def safe_name(filename: str) -> str:
    name = _UNSAFE.sub("_", Path(filename or "").name).strip("._")
    return name[:150] or "upload"


def _errors_text(errors: list[Any]) -> str:
    return "; ".join(f"{e.get('source', '')}: {e.get('error', '')}" if isinstance(e, dict) else str(e)
                     for e in errors)


def _report(report: Any) -> dict[str, Any]:
    data = report.to_dict() if hasattr(report, "to_dict") else dataclasses.asdict(report)
    data["doc_ids"] = list(getattr(report, "doc_ids", []) or [])
    return {k: v for k, v in data.items() if isinstance(v, str | int | float | bool | list | dict | type(None))}


def _ingest(kb: Any, name: str, data: bytes, kind: str | None) -> dict[str, Any]:
    from ingest.pipeline import ingest_bytes

    report = ingest_bytes(kb, name, data, kind=kind, source_key=f"upload:{name}")
    errors = list(getattr(report, "errors", []) or [])
    if errors:
        raise IngestError(_errors_text(errors))
    return _report(report)


def ingest_upload(kb: Any, data_dir: Path, name: str, data: bytes, kind: str | None = None) -> dict[str, Any]:
    """Ingest an uploaded file; it is kept under data_dir/uploads/ (for re-ingest) only once it
    ingested cleanly, and only when no personal number was found in it."""
    from ingest.pipeline import ingest_bytes

    report = ingest_bytes(kb, name, data, kind=kind, source_key=f"upload:{name}")
    errors = list(getattr(report, "errors", []) or [])
    if errors:
        raise IngestError(_errors_text(errors))
    return {**_report(report), "kept_for_reingest": _keep_upload(kb, report, Path(data_dir) / UPLOADS, name, data)}


def _keep_upload(kb: Any, report: Any, uploads: Path, name: str, data: bytes) -> bool:
    """Keep the uploaded file for re-ingest unless personal numbers were found in it; an older copy
    under the same name goes either way (it no longer matches the document)."""
    docs = [kb.get_document(d) for d in getattr(report, "doc_ids", []) or []]
    final = uploads / name
    if not docs or any(d is None or (d.meta or {}).get("personal_numbers") for d in docs):
        final.unlink(missing_ok=True)
        return False
    uploads.mkdir(parents=True, exist_ok=True)
    staged = uploads / f".{name}.{uuid.uuid4().hex[:8]}.incoming"
    staged.write_bytes(data)
    staged.replace(final)
    return True


def source_file(data_dir: Path, source: str) -> Path | None:
    """The kept file a document was ingested from, if this host has it."""
    name = source.removeprefix("upload:")
    for candidate in (Path(data_dir) / UPLOADS / safe_name(name), Path(source)):
        if candidate.is_file():
            return candidate
    return None


def source_of(kb: Any, data_dir: Path, doc_id: str) -> Path:
    """The kept file of a document, or NotFoundError saying what to do."""
    doc = kb.get_document(doc_id)
    if doc is None:
        raise NotFoundError(f"no document {doc_id!r}")
    path = source_file(data_dir, doc.source)
    if path is None:
        raise NotFoundError(f"the source file of {doc_id!r} ({doc.source}) is not available to re-ingest; "
                            "upload it again")
    return path


def reingest(kb: Any, data_dir: Path, doc_id: str) -> dict[str, Any]:
    path = source_of(kb, data_dir, doc_id)
    return _ingest(kb, path.name, path.read_bytes(), kb.get_document(doc_id).kind or None)


def delete_document(kb: Any, doc_id: str) -> dict[str, Any]:
    return {"doc_id": doc_id, "chunks_removed": kb.remove_document(doc_id)}


def reindex(kb: Any, embedder: str | None = None) -> dict[str, Any]:
    return kb.reindex(embedder)


def add_question_keys(kb: Any, items: list[list[str]], by: str = "") -> dict[str, Any]:
    """Add (chunk id, question, origin) keys (kb.keys.add_keys); the keys added."""
    from kb.keys import add_keys

    added = add_keys(kb, [(str(c), str(q), str(o)) for c, q, o in items], by=by)
    return {"added": [k.as_dict() for k in added]}


def remove_question_keys(kb: Any, origin: str) -> dict[str, Any]:
    from kb.keys import remove_keys

    return {"origin": origin, "removed": remove_keys(kb, origin)}
