"""Background jobs of the server: document ingestion (and backups) on one writer thread, so
writes to the knowledge base never overlap; evaluation runs on a second thread, so a long run
does not hold up ingestion. Jobs are polled by id (queued → running → done | failed)."""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from kb.errors import CiteDeskError, NotFoundError, clip

log = logging.getLogger("citedesk.jobs")
MAX_KEPT = 500  # finished jobs remembered for polling


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Job:
    id: str
    kind: str  # "ingest" | "reingest" | "eval" | "backup"
    target: str
    status: str = "queued"
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobManager:
    def __init__(self) -> None:
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citedesk-writer")
        self._evals = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citedesk-eval")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, target: str, fn: Callable[[], dict[str, Any] | None], *,
               lane: str = "writer") -> Job:
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, target=target)
        with self._lock:
            self._jobs[job.id] = job
            self._trim()
        pool = self._evals if lane == "eval" else self._writer
        pool.submit(self._run, job, fn)
        return job

    def run_on_writer(self, fn: Callable[[], Any]) -> Future:
        """Run `fn` on the writer thread (after the writes queued before it) and return its future."""
        return self._writer.submit(fn)

    def _run(self, job: Job, fn: Callable[[], dict[str, Any] | None]) -> None:
        job.status, job.started_at = "running", _now()
        try:
            job.result = fn() or {}
            job.status = "done"
        except CiteDeskError as exc:
            job.status, job.error = "failed", clip(str(exc) or type(exc).__name__)
        except Exception as exc:  # a bug: keep the server up, report it on the job
            log.error("job %s failed: %s", job.id, clip(traceback.format_exc(), 20_000))
            job.status, job.error = "failed", clip(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            job.finished_at = _now()

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id}")
        return job

    def list(self, kind: str | None = None) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [j for j in jobs if kind is None or j.kind == kind]

    def _trim(self) -> None:
        done = [j for j in self._jobs.values() if j.status in ("done", "failed")]
        for j in done[: max(0, len(self._jobs) - MAX_KEPT)]:
            self._jobs.pop(j.id, None)

    def shutdown(self, wait: bool = True) -> None:
        self._writer.shutdown(wait=wait, cancel_futures=not wait)
        self._evals.shutdown(wait=wait, cancel_futures=not wait)
