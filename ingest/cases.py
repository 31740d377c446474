"""Promoted complaints into the knowledge base: every closed complaint a trainer has promoted
(kb.records.cases) is a line of one case file, ingested as one document through the same path as
any upload (`ingest_bytes`, kind "case", kept under data/uploads for re-ingest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.pipeline import ingest_bytes
from kb.errors import IngestError
from kb.records.cases import CASE_FILE, case_file, case_of, check_promotable, reviewed_case


def _case(records: Any, c: Any) -> dict[str, Any]:
    done = [f for f in records.followups_of(c.id) if f.outcome]
    day = records.rules.local(c.resolved_at or c.received_at).date().isoformat()
    return case_of(c, done[-1].outcome if done else "", day)


def promote_complaint(kb: Any, records: Any, data_dir: Path, complaint_id: int, actor: str, customer_issue: str,
                      resolution: str, on_writer: Callable[[Callable[[], Any]], Any] = lambda fn: fn()) -> Any:
    """Write the case file with this complaint's reviewed case (replacing an earlier text of it) and
    ingest it — through `on_writer`, which runs a write where the data directory's writer runs
    them; the complaint is marked promoted only once the knowledge base has the case."""
    c = records.get_complaint(complaint_id)
    check_promotable(c)
    issue, res = reviewed_case(customer_issue, resolution)
    cases = [_case(records, other) for other in records.promoted_complaints() if other.id != c.id]
    c.case_issue, c.case_resolution = issue, res  # this copy only: the record is marked below
    cases.append(_case(records, c))
    data = case_file(cases)
    uploads = Path(data_dir) / "uploads"

    def work() -> str:
        report = ingest_bytes(kb, CASE_FILE, data, kind="case", source_key=f"upload:{CASE_FILE}")
        if report.errors:
            raise IngestError("; ".join(e.get("error", "") for e in report.errors))
        uploads.mkdir(parents=True, exist_ok=True)
        staged = uploads / f".{CASE_FILE}.incoming"
        staged.write_bytes(data)
        staged.replace(uploads / CASE_FILE)
        return report.doc_ids[0]

    doc_id = on_writer(work)
    return records.mark_promoted(c.id, actor, issue, res, doc_id)
