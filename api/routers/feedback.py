"""POST /api/feedback — the agent's verdict on a suggested reply. Only the caller who asked (the
same user, or the same API key when it belongs to no user) may judge a reply: anyone else's verdict
would skew the accuracy figures."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException
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
    asked = records.get_interaction(body.interaction_id)
    own = (asked.user_id == user.user_id) if user.user_id is not None else (
        asked.user_id is None and asked.api_key_id == user.key_id)
    if not own:
        raise HTTPException(403, "only the agent who asked may give feedback on this reply")
    fb = records.add_feedback(body.interaction_id, body.verdict, edited_reply=body.edited_reply,
                              comment=body.comment, user_id=user.user_id, actor=user.name)
    return FeedbackResponse(id=fb.id, interaction_id=fb.interaction_id, verdict=fb.verdict)
