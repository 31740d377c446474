"""/api/documents (admin): upload, list, show, delete and re-ingest documents.

Uploads are ingested by the writer — the server's writer thread, or in a shared deployment the
`citedesk worker` the upload is queued for (api.writes, api.operations); the request returns a job
id to poll (from any server). Search keeps answering throughout: the knowledge base swaps a
document's chunks in one catalog transaction. An upload is kept under the writer's data/uploads/ (so
it can be re-ingested) only once it has ingested cleanly and only when no personal number was found
in it: the index holds the masked text, and the original file with the numbers in it is not kept
(nor backed up). Personal numbers in the file name are masked before the name is used."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from pydantic import BaseModel, ConfigDict

from api.deps import AdminUser, KBDep, RecordsDep, SettingsDep, WritesDep
from api.operations import safe_name
from kb.errors import NotFoundError
from kb.text.pii import mask

router = APIRouter(prefix="/api/documents", tags=["documents"])

ALLOWED = {"md", "markdown", "txt", "html", "htm", "docx", "pdf", "csv", "xlsx", "jsonl"}


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


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    data = bytearray()
    while chunk := await upload.read(1 << 20):
        data.extend(chunk)
        if len(data) > limit:
            raise HTTPException(413, f"the file is larger than the {limit // (1 << 20)} MB upload limit")
    return bytes(data)


@router.post("", response_model=JobOut, status_code=202)
async def upload(request: Request, user: AdminUser, settings: SettingsDep, writes: WritesDep,
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
    job = writes.upload(name, data, kind)
    records.audit(user.name, "document.upload", name, {"bytes": len(data), "job": job["id"], "kind": kind})
    return job


@router.get("", response_model=list[DocumentOut])
def list_documents(user: AdminUser, kb: KBDep) -> list[Any]:
    return [dataclasses.asdict(d) for d in kb.documents()]


@router.get("/jobs/{job_id}", response_model=JobOut)
def job_status(job_id: str, user: AdminUser, writes: WritesDep) -> Any:
    return writes.job(job_id)


@router.get("/{doc_id}", response_model=DocumentDetail)
def show(doc_id: str, user: AdminUser, kb: KBDep) -> Any:
    doc = kb.get_document(doc_id)
    if doc is None:
        raise NotFoundError(f"no document {doc_id!r}")
    chunks = [ChunkOut(chunk_id=c.chunk_id, section=c.section, text=c.text, meta=c.meta) for c in kb.chunks_of(doc_id)]
    return DocumentDetail(doc_id=doc.doc_id, title=doc.title, kind=doc.kind, source=doc.source, text=doc.text,
                          meta=doc.meta, chunks=chunks)


@router.delete("/{doc_id}", response_model=Removed)
def delete(doc_id: str, user: AdminUser, kb: KBDep, writes: WritesDep, records: RecordsDep) -> Any:
    if kb.get_document(doc_id) is None:
        raise NotFoundError(f"no document {doc_id!r} in the knowledge base")
    removed = writes.delete(doc_id)
    records.audit(user.name, "document.delete", doc_id, {"chunks_removed": removed})
    return Removed(doc_id=doc_id, chunks_removed=removed)


@router.post("/{doc_id}/reingest", response_model=JobOut, status_code=202)
def reingest(doc_id: str, user: AdminUser, kb: KBDep, writes: WritesDep, records: RecordsDep) -> Any:
    if kb.get_document(doc_id) is None:
        raise NotFoundError(f"no document {doc_id!r}")
    job = writes.reingest(doc_id)
    records.audit(user.name, "document.reingest", doc_id, {"job": job["id"]})
    return job
