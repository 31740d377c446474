"""Who carries out the writes an admin asks the server for (api.operations): `LocalWrites`, the
server's own writer thread (the embedded default: the server is the one writer of its data
directory), or `QueuedWrites`, a job queue on Redis (RQ) that `citedesk worker` takes jobs from (a
shared deployment: any reader on any host can enqueue, one worker writes). Both answer with the
same job records (api.tasks.Job fields), polled by id from any reader.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from api import operations
from api.shared import queue_name, redis_client, unreachable
from api.tasks import JobManager
from kb.errors import CiteDeskError, NotFoundError, ServiceUnavailableError
from kb.settings import Settings

# How long a delete waits for the writer before answering 503 (the job stays queued and runs).
DELETE_WAIT = 60.0
JOB_TIMEOUT = 6 * 3600  # a reindex of a large knowledge base
KEEP_RESULTS = 7 * 24 * 3600


class LocalWrites:
    def __init__(self, kb: Any, jobs: JobManager, data_dir: Path) -> None:
        self.kb, self.jobs, self.data_dir = kb, jobs, Path(data_dir)

    def upload(self, name: str, data: bytes, kind: str | None) -> dict[str, Any]:
        return self.jobs.submit("ingest", name, lambda: operations.ingest_upload(self.kb, self.data_dir, name, data,
                                                                                  kind)).to_dict()

    def reingest(self, doc_id: str) -> dict[str, Any]:
        operations.source_of(self.kb, self.data_dir, doc_id)  # a missing file is said now, not in the job
        return self.jobs.submit("reingest", doc_id,
                                lambda: operations.reingest(self.kb, self.data_dir, doc_id)).to_dict()

    def delete(self, doc_id: str) -> int:
        return self.jobs.run_on_writer(lambda: self.kb.remove_document(doc_id)).result()

    def question_keys(self, op: str, **kwargs: Any) -> dict[str, Any]:
        """add_question_keys / remove_question_keys (api.operations) on the writer, waited for."""
        fn = getattr(operations, op)
        return self.jobs.run_on_writer(lambda: fn(self.kb, **kwargs)).result()

    def job(self, job_id: str) -> dict[str, Any]:
        return self.jobs.get(job_id).to_dict()


def _iso(moment) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


class QueuedWrites:
    """Jobs on the deployment's RQ queue; `api.worker.run` carries them out."""

    def __init__(self, settings: Settings, client=None) -> None:
        from rq import Queue

        self.settings = settings
        self.redis = client or redis_client(settings)
        self.queue = Queue(queue_name(settings), connection=self.redis, default_timeout=JOB_TIMEOUT)

    def _enqueue(self, job_kind: str, target: str, op: str, **kwargs: Any):
        from redis.exceptions import RedisError
        from rq import Retry

        try:
            # a job whose worker died mid-way is run again (api.worker requeues it), twice at most
            return self.queue.enqueue("api.worker.run", op, kwargs, meta={"kind": job_kind, "target": target},
                                      retry=Retry(max=2), result_ttl=KEEP_RESULTS, failure_ttl=KEEP_RESULTS,
                                      job_timeout=JOB_TIMEOUT)
        except RedisError as exc:
            raise unreachable(exc, self.settings) from exc

    def upload(self, name: str, data: bytes, kind: str | None) -> dict[str, Any]:
        return self.describe(self._enqueue("ingest", name, "ingest_upload", name=name, data=data, kind=kind))

    def reingest(self, doc_id: str) -> dict[str, Any]:
        return self.describe(self._enqueue("reingest", doc_id, "reingest", doc_id=doc_id))

    def reindex(self, embedder: str | None) -> dict[str, Any]:
        return self.describe(self._enqueue("reindex", embedder or "", "reindex", embedder=embedder))

    def question_keys(self, op: str, wait: float = DELETE_WAIT, **kwargs: Any) -> dict[str, Any]:
        """add_question_keys / remove_question_keys on the deployment's writer, waited for."""
        return self._wait(self._enqueue("keys", op, op, **kwargs), wait)

    def delete(self, doc_id: str, wait: float = DELETE_WAIT) -> int:
        return int(self._wait(self._enqueue("delete", doc_id, "delete_document", doc_id=doc_id), wait)["chunks_removed"])

    def _wait(self, job, wait: float) -> dict[str, Any]:
        deadline = time.monotonic() + wait
        while True:
            out = self.describe(job)
            if out["status"] == "done":
                return out["result"]
            if out["status"] == "failed":
                raise _as_error(job.return_value(), out["error"])
            if time.monotonic() > deadline:
                raise ServiceUnavailableError(f"the writer has not carried out the {out['kind']} within {wait:.0f} s; "
                                              f"it stays queued as job {job.id}")
            time.sleep(0.1)

    def job(self, job_id: str) -> dict[str, Any]:
        from redis.exceptions import RedisError
        from rq.exceptions import NoSuchJobError
        from rq.job import Job

        try:
            job = Job.fetch(job_id, connection=self.redis)
            if job.origin != self.queue.name:
                raise NoSuchJobError(job_id)
            return self.describe(job)
        except NoSuchJobError:
            raise NotFoundError(f"no job {job_id}") from None
        except RedisError as exc:
            raise unreachable(exc, self.settings) from exc

    @staticmethod
    def describe(job) -> dict[str, Any]:
        """The job as the API shows it (api.tasks.Job fields)."""
        status = job.get_status(refresh=True)
        status = getattr(status, "value", status)
        result: Any = None
        error = None
        if status == "finished":
            result = job.return_value()
            if isinstance(result, dict) and set(result) == {"error", "error_type"}:
                error, result = result["error"], None
        elif status in ("failed", "stopped", "canceled"):
            latest = job.latest_result()
            last = (latest.exc_string or "").strip().splitlines()[-1:] if latest else []
            error = f"internal error: {last[0]}" if last else f"the job {status}"
        shown = {"finished": "failed" if error else "done", "started": "running", "failed": "failed",
                 "stopped": "failed", "canceled": "failed"}.get(status, "queued")
        return {"id": job.id, "kind": job.meta.get("kind", ""), "target": job.meta.get("target", ""), "status": shown,
                "error": error, "result": result if isinstance(result, dict) else {},
                "created_at": _iso(job.created_at), "started_at": _iso(job.started_at),
                "finished_at": _iso(job.ended_at)}


def _as_error(result: Any, message: str) -> CiteDeskError:
    """The error a failed job reported, as the same kind of error (an unknown document: 404)."""
    import kb.errors

    kind = getattr(kb.errors, str((result or {}).get("error_type") if isinstance(result, dict) else ""), None)
    cls = kind if isinstance(kind, type) and issubclass(kind, CiteDeskError) else CiteDeskError
    return cls(message)
