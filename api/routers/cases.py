"""/api/complaints/{id}/case (trainer): a closed complaint becomes a past case of the knowledge
base. GET proposes the case text (masked, names shortened); the trainer reviews it and POSTs it;
CiteDesk writes every promoted case into one case file and ingests it through the normal ingest
path on the writer thread, so the next agent with the same problem gets it cited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import JobsDep, KBDep, RecordsDep, RowId, SettingsDep, TrainerUser
from api.routers.complaints import ComplaintDetail, detail_out
from ingest.cases import promote_complaint
from kb.records.cases import case_draft, check_promotable

router = APIRouter(prefix="/api/complaints", tags=["complaints"])


class CaseIn(BaseModel):
    customer_issue: str = Field(..., min_length=1, max_length=4000)
    resolution: str = Field(..., min_length=1, max_length=4000)


class CaseDraft(BaseModel):
    case_id: str | None
    category: str
    product: str | None
    customer_issue: str
    resolution: str
    outcome: str


@router.get("/{complaint_id}/case", response_model=CaseDraft)
def draft(complaint_id: RowId, user: TrainerUser, records: RecordsDep) -> Any:
    c = records.get_complaint(complaint_id)
    check_promotable(c)
    if c.case_doc_id:
        return CaseDraft(**{**case_draft(c, records.followups_of(c.id)), "customer_issue": c.case_issue,
                            "resolution": c.case_resolution})
    return CaseDraft(**case_draft(c, records.followups_of(c.id)))


@router.post("/{complaint_id}/case", response_model=ComplaintDetail)
def promote(complaint_id: RowId, body: CaseIn, user: TrainerUser, records: RecordsDep, kb: KBDep, jobs: JobsDep,
            settings: SettingsDep) -> Any:
    """Ingest the reviewed case (on the writer thread) and mark the complaint promoted."""
    c = promote_complaint(kb, records, Path(settings.data_dir), complaint_id, user.name, body.customer_issue,
                          body.resolution, on_writer=lambda fn: jobs.run_on_writer(fn).result())
    return detail_out(records, c)
