"""The write queue of a shared deployment: any reader enqueues (the uploaded bytes travel with the
job), `citedesk worker` carries the jobs out, every reader follows the catalog and answers the
change; a worker killed mid-job leaves the previous snapshot serving and the job runs again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack

import pytest

from api.worker import serve as serve_worker
from kb.knowledge import KnowledgeBase
from tests._api_support import start

pytestmark = [pytest.mark.shared, pytest.mark.slow]  # real services, worker processes: minutes

CARD = "# 盗刷处理\n\n## 挂失\n\n信用卡被盗刷时，请立即致电客服冻结卡片，并在二十四小时内报警。\n"


def wait_for(predicate, seconds: float = 60.0, every: float = 0.2):
    """Poll until `predicate()` is truthy (generous deadline: CI is a busy machine)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    return predicate()


def readers(shared_settings, n: int, stack: ExitStack):
    return [stack.enter_context(start(shared_settings(f"reader{i}", rate_limit_per_minute=100000))) for i in range(n)]


def test_an_upload_through_one_reader_is_written_by_the_worker_and_answered_by_every_reader(shared_settings):
    with ExitStack() as stack:
        a, b = readers(shared_settings, 2, stack)
        before = a.client.get("/healthz", headers=a.auth("admin")).json()["snapshot_id"]
        r = a.client.post("/api/documents", headers=a.auth("admin"),
                          files={"file": ("card.md", CARD.encode("utf-8"), "text/markdown")})
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] == "queued" and job["kind"] == "ingest"
        # the job is visible from the other reader too
        assert b.client.get(f"/api/documents/jobs/{job['id']}", headers=b.auth("admin")).json()["status"] == "queued"

        assert serve_worker(shared_settings("worker"), burst=True) == 1
        done = b.client.get(f"/api/documents/jobs/{job['id']}", headers=b.auth("admin")).json()
        assert done["status"] == "done" and done["result"]["documents_added"] == 1, done
        assert (shared_settings("worker").data_dir / "uploads" / "card.md").is_file()  # kept for re-ingest

        for reader in (a, b):
            def answered(reader=reader):
                body = reader.client.post("/api/ask", headers=reader.auth("agent"),
                                          json={"question": "信用卡被盗刷了怎么办"}).json()
                return body if any(c["title"] == "盗刷处理" for c in body["citations"]) else None

            body = wait_for(answered)
            assert body, "a reader did not follow the catalog"
            snapshot = reader.client.get("/healthz", headers=reader.auth("admin")).json()["snapshot_id"]
            assert snapshot != before
            row = reader.records.get_interaction(body["interaction_id"])
            assert row.snapshot_id == snapshot  # the ask records the snapshot it answered from


def test_a_bad_upload_fails_its_job_with_the_reason_and_changes_nothing(shared_settings):
    with ExitStack() as stack:
        (a,) = readers(shared_settings, 1, stack)
        before = a.client.get("/healthz", headers=a.auth("admin")).json()
        r = a.client.post("/api/documents", headers=a.auth("admin"),
                          files={"file": ("broken.pdf", b"%PDF-1.4 not really a pdf", "application/pdf")})
        assert r.status_code == 202
        serve_worker(shared_settings("worker"), burst=True)
        job = a.client.get(f"/api/documents/jobs/{r.json()['id']}", headers=a.auth("admin")).json()
        assert job["status"] == "failed" and "broken.pdf" in job["error"]
        after = a.client.get("/healthz", headers=a.auth("admin")).json()
        assert (after["documents"], after["snapshot_id"]) == (before["documents"], before["snapshot_id"])
        assert not (shared_settings("worker").data_dir / "uploads" / "broken.pdf").exists()


def test_delete_and_reingest_go_through_the_worker(shared_settings):
    with ExitStack() as stack:
        (a,) = readers(shared_settings, 1, stack)
        a.client.post("/api/documents", headers=a.auth("admin"),
                      files={"file": ("card.md", CARD.encode("utf-8"), "text/markdown")})
        serve_worker(shared_settings("worker"), burst=True)
        doc_id = wait_for(lambda: [d["doc_id"] for d in a.client.get("/api/documents", headers=a.auth("admin")).json()])
        assert doc_id
        r = a.client.post(f"/api/documents/{doc_id[0]}/reingest", headers=a.auth("admin"))
        assert r.status_code == 202
        serve_worker(shared_settings("worker"), burst=True)
        job = a.client.get(f"/api/documents/jobs/{r.json()['id']}", headers=a.auth("admin")).json()
        assert job["status"] == "done" and job["result"]["documents_unchanged"] == 1

        # a delete waits for the worker: run one in the background meanwhile
        worker = subprocess.Popen([sys.executable, "-c", "from api.cli import main; main()", "worker"],
                                  env=_env(shared_settings("worker")), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            r = a.client.delete(f"/api/documents/{doc_id[0]}", headers=a.auth("admin"))
            assert r.status_code == 200 and r.json()["chunks_removed"] >= 1
            assert a.client.delete(f"/api/documents/{doc_id[0]}", headers=a.auth("admin")).status_code == 404
        finally:
            worker.terminate()  # stops after the job in hand
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(30)


def _env(settings) -> dict[str, str]:
    return {**os.environ, "CITEDESK_DATA_DIR": str(settings.data_dir), "CITEDESK_DATABASE_URL": settings.database_url,
            "CITEDESK_CHROMA_URL": settings.chroma_url, "CITEDESK_REDIS_URL": settings.redis_url,
            "CITEDESK_RECORDS_KEY": settings.records_key}


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_the_previous_snapshot_and_the_job_runs_again(shared_settings):
    settings = shared_settings("worker")
    big = "# 长文档\n\n" + "\n\n".join(
        f"## 第{i}节 还款提醒\n\n第{i}节：每月还款日前三天发送短信提醒，扣款失败当日再次提醒，编号{i}。" for i in range(150))
    with ExitStack() as stack:
        (a,) = readers(shared_settings, 1, stack)
        before = a.client.get("/healthz", headers=a.auth("admin")).json()["snapshot_id"]
        job = a.client.post("/api/documents", headers=a.auth("admin"),
                            files={"file": ("long.md", big.encode("utf-8"), "text/markdown")}).json()
        worker = subprocess.Popen([sys.executable, "-c", "from api.cli import main; main()", "worker"],
                                  env=_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            status = wait_for(lambda: a.client.get(f"/api/documents/jobs/{job['id']}",
                                                   headers=a.auth("admin")).json()["status"] == "running", every=0.05)
            assert status, "the worker never started the job"
            time.sleep(0.5)  # embedding the 150 sections takes far longer than this
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(30)
        finally:
            if worker.poll() is None:
                worker.kill()
        # the half-done job changed nothing a reader serves
        with KnowledgeBase.open(settings) as kb:
            assert kb.catalog.snapshot_id == before and kb.stats()["documents"] == 0

        assert serve_worker(settings, burst=True) == 1  # the next writer puts the job back and runs it
        done = a.client.get(f"/api/documents/jobs/{job['id']}", headers=a.auth("admin")).json()
        assert done["status"] == "done" and done["result"]["documents_added"] == 1, done
        assert wait_for(lambda: a.client.get("/healthz", headers=a.auth("admin")).json()["documents"] == 1)


def test_serve_with_two_workers_runs_two_readers_behind_one_port(shared_settings):
    import httpx
    import psutil

    from ui.demo_site import free_port

    settings = shared_settings("workers")
    with ExitStack() as stack:
        (a,) = readers(shared_settings, 1, stack)  # creates the records' schema and an agent key
        key = a.keys["agent"]
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", "from api.cli import main; main()", "serve", "--port", str(port),
                                 "--workers", "2"], env=_env(settings), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"

            def serving():
                try:
                    return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
                except httpx.HTTPError:
                    return False

            assert wait_for(serving, seconds=180), "serve --workers 2 never answered"
            readers_running = [c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
            assert len(readers_running) == 2
            r = httpx.post(f"{url}/api/search", json={"query": "提前还款"}, headers={"Authorization": f"Bearer {key}"},
                           timeout=60)
            assert r.status_code == 200
        finally:
            proc.terminate()
            proc.wait(60)


def test_a_reindex_through_the_worker_moves_every_reader_to_the_new_collection(shared_settings):
    from api.writes import QueuedWrites

    with ExitStack() as stack:
        (a,) = readers(shared_settings, 1, stack)
        a.client.post("/api/documents", headers=a.auth("admin"),
                      files={"file": ("card.md", CARD.encode("utf-8"), "text/markdown")})
        serve_worker(shared_settings("worker"), burst=True)
        kb = a.app.state.kb
        assert wait_for(lambda: kb.stats()["documents"] == 1 and kb.snapshot_id == kb.catalog.snapshot_id)
        old = kb.store.name
        job = QueuedWrites(shared_settings("cli")).reindex("e5")
        serve_worker(shared_settings("worker"), burst=True)
        assert a.client.get(f"/api/documents/jobs/{job['id']}", headers=a.auth("admin")).json()["status"] == "done"
        assert wait_for(lambda: kb.store.name != old), "the reader still searches the old collection"
        body = a.client.post("/api/ask", headers=a.auth("agent"), json={"question": "信用卡被盗刷了怎么办"}).json()
        assert any(c["title"] == "盗刷处理" for c in body["citations"])
