"""Background jobs: status moves queued → running → done/failed, errors are reported on the job,
and writes run one at a time in submission order."""

from __future__ import annotations

import threading
import time

import pytest

from api.tasks import JobManager
from kb.errors import IngestError, NotFoundError


def wait(jobs: JobManager, job_id: str) -> dict:
    for _ in range(200):
        job = jobs.get(job_id).to_dict()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.01)
    raise AssertionError("job did not finish")


def test_status_result_and_errors():
    jobs = JobManager()
    try:
        gate = threading.Event()
        first = jobs.submit("ingest", "a.md", lambda: gate.wait(5) and {"chunks_added": 3})
        queued = jobs.submit("ingest", "b.md", lambda: {"chunks_added": 1})
        assert jobs.get(queued.id).status == "queued"
        gate.set()
        assert wait(jobs, first.id)["result"] == {"chunks_added": 3}
        bad = jobs.submit("ingest", "bad.pdf", lambda: (_ for _ in ()).throw(IngestError("bad.pdf: not a PDF")))
        assert wait(jobs, bad.id)["error"] == "bad.pdf: not a PDF"
        bug = jobs.submit("ingest", "x", lambda: 1 / 0)
        failed = wait(jobs, bug.id)
        assert failed["status"] == "failed" and "ZeroDivisionError" in failed["error"]
        assert {j.target for j in jobs.list("ingest")} == {"a.md", "b.md", "bad.pdf", "x"}
        with pytest.raises(NotFoundError):
            jobs.get("nope")
    finally:
        jobs.shutdown()


def test_writes_run_one_at_a_time_in_order():
    jobs = JobManager()
    order: list[str] = []
    running = []
    overlap = []

    def work(name: str):
        def run():
            running.append(name)
            if len(running) > 1:
                overlap.append(name)
            time.sleep(0.02)
            order.append(name)
            running.remove(name)

        return run

    try:
        ids = [jobs.submit("ingest", n, work(n)).id for n in "abcd"]
        ids.append(jobs.run_on_writer(work("backup")))
        ids[-1].result(timeout=5)
        assert order == ["a", "b", "c", "d", "backup"] and not overlap
    finally:
        jobs.shutdown()
