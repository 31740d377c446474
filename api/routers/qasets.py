"""/api/qasets (trainer+): Q&A sets and their items — CRUD, import/export through evals.qaset,
and promotion of a live interaction into a graded item."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import MAX_ID, RecordsDep, RowId, TrainerUser
from evals import qaset as qa
from kb.errors import ValidationError

router = APIRouter(prefix="/api/qasets", tags=["qasets"])
MAX_IMPORT = 10 * (1 << 20)  # the body cap of an import (api.bodies) is this plus the multipart framing


class QASetIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=4000)


class QASetPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)


class QASetOut(BaseModel):
    id: int
    name: str
    description: str
    author: str | None
    items: int | None = None


class ItemIn(BaseModel):
    question: str = Field(..., min_length=1, max_length=4000)
    reference_answer: str = Field("", max_length=8000)
    key_points: list[str] = []
    expected_sources: list[dict[str, str]] = []
    answerable: bool = True
    topic: str | None = Field(None, max_length=100)
    tags: list[str] = []
    reviewed: str | None = Field(None, max_length=100)


class ItemPatch(BaseModel):
    question: str | None = Field(None, min_length=1, max_length=4000)
    reference_answer: str | None = Field(None, max_length=8000)
    key_points: list[str] | None = None
    expected_sources: list[dict[str, str]] | None = None
    answerable: bool | None = None
    topic: str | None = Field(None, max_length=100)
    tags: list[str] | None = None
    reviewed: str | None = Field(None, max_length=100)


class ItemOut(ItemIn):
    id: int
    qaset_id: int
    ext_id: str | None = None
    author: str | None = None
    grades: list[Any] = []
    source_interaction_id: int | None = None


class QASetDetail(QASetOut):
    item_list: list[ItemOut]


class PromoteIn(BaseModel):
    interaction_id: int = Field(..., ge=1, le=MAX_ID)
    key_points: list[str] = Field(..., min_length=1, description="what a correct reply must say")
    reference_answer: str | None = Field(None, max_length=8000, description="default: the agent's edited reply")
    topic: str | None = Field(None, max_length=100)
    expected_sources: list[dict[str, str]] | None = None


def item_out(it: Any) -> ItemOut:
    return ItemOut(id=it.id, qaset_id=it.qaset_id, ext_id=it.ext_id, question=it.question,
                   reference_answer=it.reference_answer or "", key_points=it.key_points or [],
                   expected_sources=it.expected_sources or [], answerable=it.answerable, topic=it.topic,
                   tags=it.tags or [], reviewed=it.reviewed, author=it.author, grades=it.grades or [],
                   source_interaction_id=it.source_interaction_id)


def set_out(s: Any, n: int | None = None) -> QASetOut:
    return QASetOut(id=s.id, name=s.name, description=s.description or "", author=s.author, items=n)


def to_eval_set(records: Any, qaset_id: int) -> qa.QASet:
    """The stored set as an evals.qaset.QASet (what the harness runs)."""
    s = records.get_qaset(qaset_id)
    items = [qa.QAItem(id=it.ext_id or f"item-{it.id}", question=it.question,
                       reference_answer=it.reference_answer or "", key_points=list(it.key_points or []),
                       expected_sources=[qa.ExpectedSource(**{k: v for k, v in src.items()
                                                              if k in ("title", "section", "chunk_id")})
                                         for src in (it.expected_sources or [])],
                       answerable=it.answerable, topic=it.topic or "", tags=list(it.tags or []),
                       author=it.author or "", reviewed=it.reviewed, grades=list(it.grades or []))
             for it in records.items(qaset_id)]
    return qa.QASet(name=s.name, description=s.description or "", items=items)


@router.get("", response_model=list[QASetOut])
def list_sets(user: TrainerUser, records: RecordsDep) -> Any:
    return [set_out(s) for s in records.qasets()]


@router.post("", response_model=QASetOut, status_code=201)
def create_set(body: QASetIn, user: TrainerUser, records: RecordsDep) -> Any:
    s = records.create_qaset(body.name, body.description, author=user.name)
    records.audit(user.name, "qaset.create", f"qaset {s.id}", {"name": s.name})
    return set_out(s, 0)


@router.get("/{qaset_id}", response_model=QASetDetail)
def show_set(qaset_id: RowId, user: TrainerUser, records: RecordsDep) -> Any:
    s = records.get_qaset(qaset_id)
    items = [item_out(it) for it in records.items(qaset_id)]
    return QASetDetail(**set_out(s, len(items)).model_dump(), item_list=items)


@router.patch("/{qaset_id}", response_model=QASetOut)
def update_set(qaset_id: RowId, body: QASetPatch, user: TrainerUser, records: RecordsDep) -> Any:
    s = records.update_qaset(qaset_id, name=body.name, description=body.description)
    records.audit(user.name, "qaset.update", f"qaset {qaset_id}", body.model_dump(exclude_none=True))
    return set_out(s)


@router.delete("/{qaset_id}", status_code=204)
def delete_set(qaset_id: RowId, user: TrainerUser, records: RecordsDep) -> None:
    records.delete_qaset(qaset_id)
    records.audit(user.name, "qaset.delete", f"qaset {qaset_id}")


@router.get("/{qaset_id}/items", response_model=list[ItemOut])
def list_items(qaset_id: RowId, user: TrainerUser, records: RecordsDep) -> Any:
    return [item_out(it) for it in records.items(qaset_id)]


@router.post("/{qaset_id}/items", response_model=ItemOut, status_code=201)
def add_item(qaset_id: RowId, body: ItemIn, user: TrainerUser, records: RecordsDep) -> Any:
    it = records.add_item(qaset_id, **body.model_dump(), author=user.name)
    records.audit(user.name, "qaset.item.add", f"qaset {qaset_id} item {it.id}")
    return item_out(it)


@router.patch("/{qaset_id}/items/{item_id}", response_model=ItemOut)
def update_item(qaset_id: RowId, item_id: RowId, body: ItemPatch, user: TrainerUser, records: RecordsDep) -> Any:
    it = records.update_item(qaset_id, item_id, **body.model_dump(exclude_unset=True))
    records.audit(user.name, "qaset.item.update", f"qaset {qaset_id} item {item_id}")
    return item_out(it)


@router.delete("/{qaset_id}/items/{item_id}", status_code=204)
def delete_item(qaset_id: RowId, item_id: RowId, user: TrainerUser, records: RecordsDep) -> None:
    records.delete_item(qaset_id, item_id)
    records.audit(user.name, "qaset.item.delete", f"qaset {qaset_id} item {item_id}")


@router.post("/{qaset_id}/import", response_model=QASetOut)
async def import_items(qaset_id: RowId, user: TrainerUser, records: RecordsDep,
                       file: Annotated[UploadFile, File()]) -> Any:
    """Add the items of a YAML, JSONL, CSV or XLSX file; a file with any bad line adds nothing.
    The file is parsed and stored in a worker thread: a large sheet never holds up other requests."""
    fmt = qa.format_of(Path(file.filename or "upload"))
    data = await file.read(MAX_IMPORT + 1)
    if len(data) > MAX_IMPORT:
        raise ValidationError("a Q&A set file is limited to 10 MB")
    return await run_in_threadpool(_import, records, user.name, qaset_id, fmt, data, file.filename)


def _import(records: Any, actor: str, qaset_id: int, fmt: str, data: bytes, filename: str | None) -> QASetOut:
    records.get_qaset(qaset_id)
    try:
        parsed = qa.parse_qaset(data, fmt, source=filename)
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{filename}: not UTF-8 text") from exc
    rows = parsed.item_rows(author=actor)
    records.add_items(qaset_id, rows)
    records.audit(actor, "qaset.import", f"qaset {qaset_id}", {"file": filename, "items": len(rows)})
    return set_out(records.get_qaset(qaset_id), len(records.items(qaset_id)))


@router.get("/{qaset_id}/export", response_class=PlainTextResponse)
def export(qaset_id: RowId, user: TrainerUser, records: RecordsDep,
           format: str = Query("yaml", pattern="^(yaml|jsonl|csv)$")) -> PlainTextResponse:
    text = qa.dump_qaset(to_eval_set(records, qaset_id), format)
    records.audit(user.name, "qaset.export", f"qaset {qaset_id}", {"format": format})
    media = {"yaml": "application/yaml", "jsonl": "application/jsonl", "csv": "text/csv"}[format]
    return PlainTextResponse(text, media_type=f"{media}; charset=utf-8")


@router.post("/{qaset_id}/promote", response_model=ItemOut, status_code=201)
def promote(qaset_id: RowId, body: PromoteIn, user: TrainerUser, records: RecordsDep) -> Any:
    """Turn a live interaction into a graded item: its question, the agent's edited reply (or the
    accepted answer) as reference answer, and the key points the trainer gives."""
    records.get_qaset(qaset_id)
    inter = records.get_interaction(body.interaction_id)
    feedback = records.feedback_for(inter.id)
    last = feedback[-1] if feedback else None
    reference = body.reference_answer
    if reference is None and last is not None and last.verdict == "edited":
        reference = last.edited_reply
    if reference is None and last is not None and last.verdict == "accepted":
        reference = inter.answer
    if not reference:
        raise ValidationError("this interaction has no edited or accepted reply; give reference_answer")
    grades = [{"verdict": f.verdict, "by": f.actor} for f in feedback]
    it = records.add_item(qaset_id, question=inter.question, reference_answer=reference,
                          key_points=body.key_points, expected_sources=body.expected_sources or [],
                          topic=body.topic or inter.kind, author=user.name, reviewed=user.name, grades=grades,
                          answerable=not inter.abstained or bool(body.reference_answer),
                          source_interaction_id=inter.id)
    records.audit(user.name, "qaset.promote", f"qaset {qaset_id} item {it.id}", {"interaction": inter.id})
    return item_out(it)
