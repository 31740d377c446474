"""POST /api/feedback — the agent's verdict on a suggested reply."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import MAX_ID, AgentUser, RecordsDep

router = APIRouter(prefix="/api", tags=["feedback"])


class FeedbackRequest(BaseModel):
    interaction_id: int = Field(..., ge=1, le=MAX_ID)
    verdict: Literal["accepted", "edited", "rejected"]
    edited_reply: str | None = Field(None, max_length=8000, description="required when verdict is edited")
    comment: str | None = Field(None, max_length=4000)


class FeedbackResponse(BaseModel):
    id: int
    interaction_id: int
    verdict: str


@router.post("/feedback", response_model=FeedbackResponse, status_code=201)
def feedback(body: FeedbackRequest, user: AgentUser, records: RecordsDep) -> FeedbackResponse:
    fb = records.add_feedback(body.interaction_id, body.verdict, edited_reply=body.edited_reply,
                              comment=body.comment, user_id=user.user_id, actor=user.name)
    return FeedbackResponse(id=fb.id, interaction_id=fb.interaction_id, verdict=fb.verdict)
