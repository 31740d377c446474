"""/api/question-keys (trainer): the question keys a company's own use adds, each with its origin.

A key is a customer's phrasing of a document section; search reads it as evidence about that
section (kb.search.fusion.key_evidence). Trainers add them from a graded Q&A set (each answerable
item's question, attached to its expected source), from the review queue (a question whose reply an
agent accepted, confirmed for the chunk the reply cited: origin ``accepted:<interaction id>``) or by
hand, see where each came from, and remove them by origin. Writes run on the knowledge base's writer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass

from api.deps import MAX_ID, KBDep, RecordsDep, RowId, TrainerUser, WritesDep
from kb.errors import NotFoundError, ValidationError
from kb.index.added_keys import AddedKey

router = APIRouter(prefix="/api/question-keys", tags=["question keys"])


@dataclass(frozen=True)
class KeyOut(AddedKey):
    """A stored key (kb.index.added_keys.AddedKey) with its document's title."""

    title: str = ""


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chunk_id: str = Field(min_length=1, max_length=200)
    question: str = Field(min_length=1, max_length=300)
    interaction_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="the accepted reply the question comes from")


class Added(BaseModel):
    added: list[KeyOut]


class Removed(BaseModel):
    origin: str
    removed: int


def _with_titles(kb: Any, keys: list[dict[str, Any]]) -> list[KeyOut]:
    titles = {d.doc_id: d.title for d in kb.documents()}
    return [KeyOut(**k, title=titles.get(k["doc_id"], "")) for k in keys]


@router.get("", response_model=list[KeyOut])
def list_keys(user: TrainerUser, kb: KBDep, origin: Annotated[str | None, Query(max_length=200)] = None) -> Any:
    from kb.keys import list_keys as stored

    return _with_titles(kb, [k.as_dict() for k in stored(kb, origin)])


@router.post("", response_model=Added, status_code=201)
def add_key(body: KeyIn, user: TrainerUser, kb: KBDep, writes: WritesDep, records: RecordsDep) -> Any:
    if kb.get_chunk(body.chunk_id) is None:
        raise NotFoundError(f"no chunk {body.chunk_id!r} in the knowledge base")
    origin = f"trainer:{user.name}"
    if body.interaction_id is not None:
        interaction = records.get_interaction(body.interaction_id)
        if body.chunk_id not in {c.get("chunk_id") for c in interaction.citations or []}:
            raise ValidationError("a key from an accepted reply belongs to a chunk that reply cited")
        origin = f"accepted:{body.interaction_id}"
    result = writes.question_keys("add_question_keys", items=[[body.chunk_id, body.question, origin]], by=user.name)
    records.audit(user.name, "question_key.add", body.chunk_id, {"origin": origin, "added": len(result["added"])})
    return Added(added=_with_titles(kb, result["added"]))


@router.post("/from-qaset/{qaset_id}", response_model=Added, status_code=201)
def add_from_qaset(qaset_id: RowId, user: TrainerUser, kb: KBDep, writes: WritesDep, records: RecordsDep) -> Any:
    from api.routers.qasets import to_eval_set
    from evals.qaset_keys import key_items

    qaset = to_eval_set(records, qaset_id)
    items, _missing = key_items(kb, qaset)
    result = writes.question_keys("add_question_keys", items=[list(i) for i in items], by=user.name)
    records.audit(user.name, "question_key.from_qaset", f"qaset {qaset_id}", {"added": len(result["added"])})
    return Added(added=_with_titles(kb, result["added"]))


@router.delete("", response_model=Removed)
def remove(user: TrainerUser, writes: WritesDep, records: RecordsDep,
           origin: Annotated[str, Query(min_length=3, max_length=200)]) -> Any:
    result = writes.question_keys("remove_question_keys", origin=origin)
    records.audit(user.name, "question_key.remove", origin, {"removed": result["removed"]})
    return Removed(**result)
