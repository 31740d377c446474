"""/api/spotchecks (trainer+): draw a random sample of conversations (by agent, team, topic,
period), grade each on the rubric (accurate, complete, polite, compliant), and turn a graded
conversation into a Q&A item. The grades feed the answer-accuracy KPI (/api/metrics/kpis)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import MAX_ID, RecordsDep, RowId, TrainerUser
from api.routers.complaints import iso
from api.routers.qasets import ItemOut, item_out
from kb.errors import NotFoundError
from kb.records.spotchecks import MAX_SAMPLE

router = APIRouter(prefix="/api/spotchecks", tags=["spot checks"])


class SampleIn(BaseModel):
    size: int = Field(10, ge=1, le=MAX_SAMPLE)
    agent: str | None = Field(None, max_length=100, description="only this agent's conversations (user name)")
    team: str | None = Field(None, max_length=100)
    topic: str | None = Field(None, max_length=100)
    since: datetime | None = None
    until: datetime | None = None
    seed: int | None = Field(None, description="the same seed draws the same sample from the same records")


class GradeIn(BaseModel):
    accurate: bool
    complete: bool
    polite: bool
    compliant: bool
    comment: str | None = Field(None, max_length=4000)


class ToItemIn(BaseModel):
    qaset_id: int = Field(..., ge=1, le=MAX_ID)
    key_points: list[str] = Field(..., min_length=1)
    reference_answer: str | None = Field(None, max_length=8000)
    topic: str | None = Field(None, max_length=100)


class SpotCheckOut(BaseModel):
    id: int
    sample: str
    interaction_id: int
    question: str
    answer: str
    topic: str | None
    team: str | None
    asked_at: str
    accurate: bool | None
    complete: bool | None
    polite: bool | None
    compliant: bool | None
    comment: str | None
    graded_by: str | None
    graded_at: str | None


class SampleOut(BaseModel):
    sample: str
    drawn_by: str
    drawn_at: str
    criteria: dict[str, Any]
    size: int
    graded: int


def spot_out(sc: Any, it: Any) -> SpotCheckOut:
    return SpotCheckOut(id=sc.id, sample=sc.sample, interaction_id=it.id, question=it.question, answer=it.answer,
                        topic=it.topic, team=it.team, asked_at=iso(it.created_at), accurate=sc.accurate,
                        complete=sc.complete, polite=sc.polite, compliant=sc.compliant, comment=sc.comment,
                        graded_by=sc.graded_by, graded_at=iso(sc.graded_at))


@router.post("", response_model=list[SpotCheckOut], status_code=201)
def draw(body: SampleIn, user: TrainerUser, records: RecordsDep) -> Any:
    """Draw a sample of conversations not checked before (fewer when fewer match)."""
    agent_id = None
    if body.agent:
        agent = records.get_user_by_name(body.agent)
        if agent is None:
            raise NotFoundError(f"no user {body.agent!r}")
        agent_id = agent.id
    sample, rows = records.draw_sample(user.name, body.size, agent_id=agent_id, team=body.team, topic=body.topic,
                                       since=body.since, until=body.until, seed=body.seed)
    return [spot_out(sc, it) for sc, it in records.spot_checks(sample=sample)]


@router.get("", response_model=list[SpotCheckOut])
def list_checks(user: TrainerUser, records: RecordsDep, sample: str | None = Query(None, max_length=40),
                pending: bool | None = None) -> Any:
    return [spot_out(sc, it) for sc, it in records.spot_checks(sample=sample, pending=pending)]


@router.get("/samples", response_model=list[SampleOut])
def samples(user: TrainerUser, records: RecordsDep) -> Any:
    return [SampleOut(**{**s, "drawn_at": iso(s["drawn_at"])}) for s in records.samples()]


@router.put("/{spot_id}", response_model=SpotCheckOut)
def grade(spot_id: RowId, body: GradeIn, user: TrainerUser, records: RecordsDep) -> Any:
    records.grade_spot_check(spot_id, user.name, **body.model_dump())
    return spot_out(*records.get_spot_check(spot_id))


@router.post("/{spot_id}/item", response_model=ItemOut, status_code=201)
def to_item(spot_id: RowId, body: ToItemIn, user: TrainerUser, records: RecordsDep) -> Any:
    """The graded conversation as an item of a Q&A set, with its grade."""
    records.get_qaset(body.qaset_id)
    it = records.spot_check_to_item(spot_id, body.qaset_id, user.name, body.key_points, body.reference_answer,
                                    body.topic)
    records.audit(user.name, "qaset.promote", f"qaset {body.qaset_id} item {it.id}", {"spot_check": spot_id})
    return item_out(it)
