"""POST /api/ask — a cited suggested reply; the interaction is stored with the question masked."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AgentUser, AnswererDep, KBDep, RecordsDep
from kb.types import public_source

router = APIRouter(prefix="/api", tags=["ask"])


class AskRequest(BaseModel):
    question: str = Field(..., min_length=1, max_length=4000, description="the customer's question")
    kind: str | None = Field(None, max_length=30, description="only documents of this kind")
    product: str | None = Field(None, max_length=100, description="only documents about this product")


class CitationOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    n: int
    chunk_id: str
    doc_id: str | None = None
    title: str = ""
    section: str = ""
    source: str = ""
    quote: str = ""
    version: str | None = None
    part: str = Field("reply", description='where it is cited: "reply" (to the customer) or "guidance" (for the agent)')


class AskResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    interaction_id: int
    question: str = Field(description="the question with personal numbers masked")
    answer: str = Field(description="the whole answer: the reply, then the agent's guidance under its label")
    reply: str = Field("", description='what may be sent to the customer as it is; "" when nothing may')
    guidance: list[str] = Field([], description="for the agent only: procedure steps, internal rules, what to check; "
                                "each item cited with [n]")
    citations: list[CitationOut]
    abstained: bool
    abstain_reason: str | None = Field(None, description="the rule that withheld the reply (docs/answers.md)")
    confidence: float
    flags: list[str]
    dropped: list[Any] = []
    mode: str
    latency_ms: float


@router.post("/ask", response_model=AskResponse)
def ask(body: AskRequest, request: Request, user: AgentUser, answerer: AnswererDep, kb: KBDep,
        records: RecordsDep) -> dict[str, Any]:
    from kb.answer.pipeline import answer_to_dict

    snapshot = str(getattr(kb, "snapshot_id", "") or "")  # what this server answers from (a reader follows)
    answer = answerer.ask(body.question, kind=body.kind, product=body.product)
    data = answer_to_dict(answer)
    iid = records.save_interaction(
        data, kind=body.kind, product=body.product, snapshot_id=snapshot,
        settings_hash=request.app.state.settings_hash, user_id=user.user_id, api_key_id=user.key_id)
    if not user.at_least("admin"):  # no server paths for agents and trainers
        data["citations"] = [{**c, "source": public_source(c.get("source", ""))} for c in data["citations"]]
    return {**data, "interaction_id": iid}
