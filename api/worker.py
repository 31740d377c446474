"""`citedesk worker`: the one writer of a shared deployment. It takes the write jobs that any
reader enqueues (uploads, re-ingests, deletes, reindexes: api.writes.QueuedWrites) from the
deployment's RQ queue on Redis and carries them out (api.operations), one at a time.

- One writer on any host: the worker holds the catalog's writer lock (a PostgreSQL advisory lock,
  kb.index.locking.DatabaseWriterLock). A second worker waits as a standby and takes over when
  the first stops or dies.
- A job is one catalog transaction per document; a worker killed mid-job leaves the previous
  snapshot serving. The next worker to hold the lock finds the job in RQ's started registry and
  puts it back on the queue (twice at most, then it fails); re-running it is safe, because an
  unchanged document is skipped and vectors already stored are not embedded again.
- PostgreSQL, Chroma or Redis unreachable: the worker waits and tries again, with a growing pause,
  instead of exiting (no restart loop); a job meeting an unreachable database waits for it up to
  UNAVAILABLE_PATIENCE seconds, then fails with the reason.
- After each commit it publishes the new snapshot id on Redis, so readers refresh at once.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from api import operations
from api.shared import publisher, queue_name, redis_client
from kb.errors import CiteDeskError, ServiceUnavailableError, WriterLockedError
from kb.settings import Settings

log = logging.getLogger("citedesk.worker")

UNAVAILABLE_PATIENCE = 300.0
MAX_PAUSE = 30.0
_current: dict[str, Any] = {}  # the worker process's knowledge base and data directory


def run(op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """One job (the function RQ calls). A failure the admin can act on is returned as
    {"error", "error_type"} (the job is done, nothing changed); anything else raises."""
    kb, data_dir = _current["kb"], _current["data_dir"]
    calls = {
        "ingest_upload": lambda: operations.ingest_upload(kb, data_dir, **kwargs),
        "reingest": lambda: operations.reingest(kb, data_dir, **kwargs),
        "delete_document": lambda: operations.delete_document(kb, **kwargs),
        "reindex": lambda: operations.reindex(kb, **kwargs),
        "add_question_keys": lambda: operations.add_question_keys(kb, **kwargs),
        "remove_question_keys": lambda: operations.remove_question_keys(kb, **kwargs),
    }
    if op not in calls:
        return {"error": f"unknown operation {op!r}", "error_type": "ValidationError"}
    deadline = time.monotonic() + UNAVAILABLE_PATIENCE
    pause = 1.0
    while True:
        try:
            return calls[op]()
        except ServiceUnavailableError as exc:
            if time.monotonic() + pause > deadline:
                return {"error": str(exc), "error_type": type(exc).__name__}
            log.warning("%s; trying again in %.0f s", exc, pause)
            time.sleep(pause)
            pause = min(MAX_PAUSE, pause * 2)
        except CiteDeskError as exc:
            return {"error": str(exc) or type(exc).__name__, "error_type": type(exc).__name__}


def requeue_abandoned(queue) -> int:
    """Put back the jobs a worker that died was carrying out (with retries left; else they fail).
    Safe only while this process holds the writer lock: no other worker can be running a job."""
    from rq.registry import StartedJobRegistry

    registry = StartedJobRegistry(queue=queue)
    ids = registry.get_job_ids(cleanup=False)
    if ids:
        registry.cleanup(timestamp=time.time() + 10 * 365 * 86400)  # every entry counts as expired
        log.warning("put back %d job(s) a stopped worker left unfinished: %s", len(ids), ", ".join(ids))
    return len(ids)


def _open_writer(settings: Settings):
    """Open the shared knowledge base as its writer: wait for the writer lock (a standby waits
    here) and for the services, however long that takes."""
    from kb.knowledge import KnowledgeBase

    pause = 1.0
    while True:
        try:
            return KnowledgeBase.open(settings, writer=True, wait=MAX_PAUSE)
        except WriterLockedError as exc:
            log.info("waiting to become the writer: %s", exc)
        except ServiceUnavailableError as exc:
            log.warning("%s; trying again in %.0f s", exc, pause)
            time.sleep(pause)
            pause = min(MAX_PAUSE, pause * 2)


def _worker_class():
    from rq import SimpleWorker

    class WriterWorker(SimpleWorker):
        """Jobs run in this process (no fork per job): the knowledge base and its embedder are
        loaded once. Before each job the writer lock is checked; one lost with its database
        connection is taken again first."""

        def execute_job(self, job, queue):
            lock = _current["kb"].writer_lock
            if not lock.check():
                log.warning("the writer lock was lost with its database connection; taking it again")
                _relock(lock)
            _current["jobs"] = _current.get("jobs", 0) + 1
            return super().execute_job(job, queue)

    return WriterWorker


def _relock(lock) -> None:
    pause = 1.0
    while True:
        try:
            lock.acquire(wait=MAX_PAUSE)
            return
        except (WriterLockedError, ServiceUnavailableError) as exc:
            log.warning("%s; trying again", exc)
            time.sleep(pause)
            pause = min(MAX_PAUSE, pause * 2)


def serve(settings: Settings, burst: bool = False) -> int:
    """Run the worker until stopped (SIGTERM/SIGINT: after the job in hand), or with `burst` until the
    queue is empty; the number of jobs carried out."""
    from redis.exceptions import RedisError
    from rq import Queue

    if not settings.shared:
        raise CiteDeskError("`citedesk worker` serves a shared deployment: set CITEDESK_REDIS_URL, "
                            "CITEDESK_DATABASE_URL (PostgreSQL) and CITEDESK_CHROMA_URL")
    kb = _open_writer(settings)
    _current.update(kb=kb, data_dir=Path(settings.data_dir))
    redis = redis_client(settings)
    kb.catalog.on_commit.append(publisher(settings, redis))
    queue = Queue(queue_name(settings), connection=redis)
    worker_class, pause = _worker_class(), 1.0
    log.info("writer of the shared knowledge base; taking jobs from %s", queue.name)
    try:
        while True:
            worker = None
            try:
                requeue_abandoned(queue)
                worker = worker_class([queue], connection=redis,
                                      name=f"citedesk-writer-{socket.gethostname()}-{os.getpid()}-{int(time.time())}")
                worker.work(burst=burst, logging_level="INFO", with_scheduler=False)
                pause = 1.0
            except RedisError as exc:
                log.warning("Redis is unreachable (%s); trying again in %.0f s", exc, pause)
            if burst or getattr(worker, "_shutdown_requested_date", None) is not None:
                return _current.get("jobs", 0)
            time.sleep(pause)  # the work loop ended on an error it logged: start it again
            pause = min(MAX_PAUSE, pause * 2)
    finally:
        _current.clear()
        kb.close()
