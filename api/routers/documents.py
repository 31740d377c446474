"""/api/documents (admin): upload, list, show, delete and re-ingest documents.

Uploads are ingested on the server's writer thread; the request returns a job id to poll. Search
keeps answering throughout: the knowledge base swaps a document's chunks in one catalog
transaction. An upload is kept under data/uploads/ (so it can be re-ingested) only once it has
ingested cleanly and only when no personal number was found in it: the index holds the masked
text, and the original file with the numbers in it is not kept (nor backed up). Personal numbers in
the file name are masked before the name is used."""

from __future__ import annotations

import dataclasses
import re
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from pydantic import BaseModel, ConfigDict

from api.deps import AdminUser, JobsDep, KBDep, RecordsDep, SettingsDep
from kb.errors import IngestError, NotFoundError
from kb.text.pii import mask

router = APIRouter(prefix="/api/documents", tags=["documents"])

ALLOWED = {"md", "markdown", "txt", "html", "htm", "docx", "pdf", "csv", "xlsx", "jsonl"}
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)


class JobOut(BaseModel):
    id: str
    kind: str
    target: str
    status: str
    error: str | None = None
    result: dict[str, Any] = {}
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None


class DocumentOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    doc_id: str
    title: str
    kind: str
    source: str
    chunk_count: int
    status: str
    meta: dict[str, Any] = {}
    updated_at: str | None = None


class ChunkOut(BaseModel):
    chunk_id: str
    section: str
    text: str
    meta: dict[str, Any] = {}


class DocumentDetail(BaseModel):
    doc_id: str
    title: str
    kind: str
    source: str
    text: str
    meta: dict[str, Any]
    chunks: list[ChunkOut]


class Removed(BaseModel):
    doc_id: str
    chunks_removed: int


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


def _ingest_job(kb: Any, path: Path, kind: str | None):
    def run() -> dict[str, Any]:
        from ingest.pipeline import ingest_bytes

        report = ingest_bytes(kb, path.name, path.read_bytes(), kind=kind, source_key=f"upload:{path.name}")
        errors = list(getattr(report, "errors", []) or [])
        if errors:
            raise IngestError(_errors_text(errors))
        return _report(report)

    return run


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    data = bytearray()
    while chunk := await upload.read(1 << 20):
        data.extend(chunk)
        if len(data) > limit:
            raise HTTPException(413, f"the file is larger than the {limit // (1 << 20)} MB upload limit")
    return bytes(data)


@router.post("", response_model=JobOut, status_code=202)
async def upload(request: Request, user: AdminUser, settings: SettingsDep, kb: KBDep, jobs: JobsDep,
                 records: RecordsDep, file: Annotated[UploadFile, File()],
                 kind: Annotated[str | None, Form(max_length=30)] = None) -> Any:
    name = safe_name(mask(file.filename or ""))
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ALLOWED:
        raise HTTPException(415, f"files of type {ext or '(none)'!r} are not accepted; use one of "
                                 f"{', '.join(sorted(ALLOWED))}")
    data = await _read_limited(file, settings.max_upload_mb * (1 << 20))
    if not data:
        raise HTTPException(422, "the uploaded file is empty")
    uploads = Path(settings.data_dir) / "uploads"

    def run() -> dict[str, Any]:
        from ingest.pipeline import ingest_bytes

        report = ingest_bytes(kb, name, data, kind=kind, source_key=f"upload:{name}")
        errors = list(getattr(report, "errors", []) or [])
        if errors:
            raise IngestError(_errors_text(errors))
        return {**_report(report), "kept_for_reingest": _keep_upload(kb, report, uploads, name, data)}

    job = jobs.submit("ingest", name, run)
    records.audit(user.name, "document.upload", name, {"bytes": len(data), "job": job.id, "kind": kind})
    return job.to_dict()


@router.get("", response_model=list[DocumentOut])
def list_documents(user: AdminUser, kb: KBDep) -> list[Any]:
    return [dataclasses.asdict(d) for d in kb.documents()]


@router.get("/jobs/{job_id}", response_model=JobOut)
def job_status(job_id: str, user: AdminUser, jobs: JobsDep) -> Any:
    return jobs.get(job_id).to_dict()


@router.get("/{doc_id}", response_model=DocumentDetail)
def show(doc_id: str, user: AdminUser, kb: KBDep) -> Any:
    doc = kb.get_document(doc_id)
    if doc is None:
        raise NotFoundError(f"no document {doc_id!r}")
    chunks = [ChunkOut(chunk_id=c.chunk_id, section=c.section, text=c.text, meta=c.meta) for c in kb.chunks_of(doc_id)]
    return DocumentDetail(doc_id=doc.doc_id, title=doc.title, kind=doc.kind, source=doc.source, text=doc.text,
                          meta=doc.meta, chunks=chunks)


@router.delete("/{doc_id}", response_model=Removed)
def delete(doc_id: str, user: AdminUser, kb: KBDep, jobs: JobsDep, records: RecordsDep) -> Any:
    removed = jobs.run_on_writer(lambda: kb.remove_document(doc_id)).result()
    records.audit(user.name, "document.delete", doc_id, {"chunks_removed": removed})
    return Removed(doc_id=doc_id, chunks_removed=removed)


@router.post("/{doc_id}/reingest", response_model=JobOut, status_code=202)
def reingest(doc_id: str, user: AdminUser, settings: SettingsDep, kb: KBDep, jobs: JobsDep,
             records: RecordsDep) -> Any:
    doc = kb.get_document(doc_id)
    if doc is None:
        raise NotFoundError(f"no document {doc_id!r}")
    path = _source_file(Path(settings.data_dir), doc.source)
    if path is None:
        raise NotFoundError(f"the source file of {doc_id!r} ({doc.source}) is not available to re-ingest; "
                            "upload it again")
    job = jobs.submit("reingest", doc_id, _ingest_job(kb, path, doc.kind or None))
    records.audit(user.name, "document.reingest", doc_id, {"job": job.id})
    return job.to_dict()


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


def _source_file(data_dir: Path, source: str) -> Path | None:
    name = source.removeprefix("upload:")
    for candidate in (data_dir / "uploads" / safe_name(name), Path(source)):
        if candidate.is_file():
            return candidate
    return None
