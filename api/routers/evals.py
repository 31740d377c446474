"""/api/evals (trainer+): run a stored Q&A set in the background, poll the run, fetch its report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from api.deps import MAX_ID, AnswererDep, JobsDep, KBDep, RecordsDep, RowId, SettingsDep, TrainerUser
from api.routers.qasets import to_eval_set
from evals.harness import run_eval
from evals.report import compare, html_report, run_report_dir, runs_from_records, write_report
from kb.errors import NotFoundError, ValidationError

log = logging.getLogger("citedesk.api")
router = APIRouter(prefix="/api/evals", tags=["evals"])


class EvalStart(BaseModel):
    qaset_id: int = Field(..., ge=1, le=MAX_ID)


class EvalRunOut(BaseModel):
    id: int
    set_name: str
    qaset_id: int | None
    status: str
    error: str | None
    overall: dict[str, Any]
    per_topic: dict[str, Any]
    snapshot_id: str | None
    settings_hash: str | None
    actor: str | None
    created_at: str
    finished_at: str | None


class EvalReport(EvalRunOut):
    per_question: list[dict[str, Any]]


def run_out(run: Any) -> EvalRunOut:
    return EvalRunOut(id=run.id, set_name=run.set_name, qaset_id=run.qaset_id, status=run.status, error=run.error,
                      overall=run.overall or {}, per_topic=run.per_topic or {}, snapshot_id=run.snapshot_id,
                      settings_hash=run.settings_hash, actor=run.actor, created_at=run.created_at.isoformat(),
                      finished_at=run.finished_at.isoformat() if run.finished_at else None)


def _write_html(result: dict[str, Any], records: Any, out: Path) -> None:
    """The evals package's report (with the set's history from the records database)."""
    history = runs_from_records(records, result["set"])
    previous = history[-2] if len(history) >= 2 else None
    write_report(result, out, compare(result, previous), history)


@router.post("", response_model=EvalRunOut, status_code=202)
def start(body: EvalStart, request: Request, user: TrainerUser, settings: SettingsDep, kb: KBDep,
          answerer: AnswererDep, records: RecordsDep, jobs: JobsDep) -> Any:
    qaset = to_eval_set(records, body.qaset_id)
    if not qaset.items:
        raise ValidationError(f"Q&A set {qaset.name!r} has no items to evaluate")
    run_id = records.start_eval_run(qaset.name, qaset_id=body.qaset_id, actor=user.name)
    shash = request.app.state.settings_hash

    def work() -> dict[str, Any]:
        records.mark_eval_run(run_id, "running")
        try:
            result = run_eval(qaset, answerer, kb=kb)
            records.save_eval_run(result, qaset.name, run_id=run_id, snapshot_id=str(kb.snapshot_id),
                                  settings_hash=shash)
        except Exception as exc:
            records.mark_eval_run(run_id, "failed", error=str(exc) or type(exc).__name__)
            raise
        try:
            _write_html(result, records, run_report_dir(settings.data_dir, run_id))
        except Exception:  # the run is stored; only its HTML page is missing
            log.exception("could not write the HTML report of eval run %s", run_id)
        return {"run_id": run_id}

    jobs.submit("eval", f"run {run_id}", work, lane="eval")
    records.audit(user.name, "eval.start", f"run {run_id}", {"qaset_id": body.qaset_id})
    return run_out(records.get_eval_run(run_id))


@router.get("", response_model=list[EvalRunOut])
def list_runs(user: TrainerUser, records: RecordsDep, set_name: str | None = Query(None, max_length=200)) -> Any:
    return [run_out(r) for r in records.eval_runs(set_name)]


@router.get("/{run_id}", response_model=EvalRunOut)
def show(run_id: RowId, user: TrainerUser, records: RecordsDep) -> Any:
    return run_out(records.get_eval_run(run_id))


@router.get("/{run_id}/report", response_model=EvalReport,
            responses={200: {"content": {"text/html": {}}, "description": "JSON, or HTML with format=html"}})
def report(run_id: RowId, user: TrainerUser, records: RecordsDep, settings: SettingsDep,
           format: str = Query("json", pattern="^(json|html)$"),
           lang: str = Query("en", pattern="^(zh-CN|en)$", description="the HTML report's language")) -> Any:
    run = records.get_eval_run(run_id)
    if run.status != "done":
        raise NotFoundError(f"eval run {run_id} has no report yet (status {run.status})")
    if format == "html":
        page = html_report(run_report_dir(settings.data_dir, run_id), lang)
        if page is None:
            raise NotFoundError(f"no HTML report was written for eval run {run_id}")
        return HTMLResponse(page.read_text(encoding="utf-8"))
    rows = [{"question": r.question, "topic": r.topic, **r.scores, **r.detail} for r in records.eval_results(run_id)]
    return EvalReport(**run_out(run).model_dump(), per_question=rows)
