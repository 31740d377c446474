"""Documents over HTTP (admin): background ingestion with a job to poll, size and type limits,
a corrupt upload that leaves the index as it was, re-ingest and delete, and search that keeps
answering — never showing half a document — while a document is being ingested."""

from __future__ import annotations

import io
import threading
import time

import docx
import pytest
from _api_support import build_kb, settings_for, start


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("docs") / "data", max_upload_mb=1)
    build_kb(settings)
    with start(settings) as api:
        yield api


def wait_job(api, job: dict, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = api.client.get(f"/api/documents/jobs/{job['id']}", headers=api.auth("admin")).json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def upload(api, name: str, data: bytes, **form) -> dict:
    resp = api.client.post("/api/documents", files={"file": (name, data)}, data=form, headers=api.auth("admin"))
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] in ("queued", "running", "done", "failed")
    return resp.json()


def docx_bytes(title: str, paragraphs: list[str]) -> bytes:
    d = docx.Document()
    d.add_heading(title, 1)
    for p in paragraphs:
        d.add_paragraph(p)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def documents(api) -> dict[str, dict]:
    return {d["source"]: d for d in api.client.get("/api/documents", headers=api.auth("admin")).json()}


def test_upload_is_ingested_in_the_background(api):
    job = wait_job(api, upload(api, "fees.md", "# 手续费\n\n## 提现\n\n提现免收手续费。\n".encode(), kind="faq"))
    assert job["status"] == "done", job
    assert job["result"]["documents_added"] == 1 and job["result"]["doc_ids"]
    doc = documents(api)["upload:fees.md"]
    assert doc["kind"] == "faq" and doc["chunk_count"] >= 1
    shown = api.client.get(f"/api/documents/{doc['doc_id']}", headers=api.auth("admin")).json()
    assert "提现免收手续费" in shown["text"] and shown["chunks"]
    events = api.client.get("/api/audit", params={"action": "document.upload"}, headers=api.auth("admin")).json()
    assert events[0]["target"] == "fees.md" and events[0]["actor"] == "key:test-admin"


def test_oversized_and_wrong_type_uploads_are_refused(api):
    before = documents(api)
    big = api.client.post("/api/documents", files={"file": ("big.txt", b"a" * (1024 * 1024 + 10))},
                          headers=api.auth("admin"))
    assert big.status_code == 413 and "1 MB" in big.json()["detail"]
    exe = api.client.post("/api/documents", files={"file": ("tool.exe", b"MZ...")}, headers=api.auth("admin"))
    assert exe.status_code == 415 and "docx" in exe.json()["detail"]
    none = api.client.post("/api/documents", headers=api.auth("admin"))
    assert none.status_code == 422 and "file" in none.json()["detail"]
    assert documents(api) == before


def test_a_corrupt_upload_leaves_the_index_as_it_was(api):
    good = wait_job(api, upload(api, "guide.docx", docx_bytes("还款指南", ["每月8日自动扣款。", "扣款失败会短信提醒。"])))
    assert good["status"] == "done", good
    before = documents(api)
    chunks_before = api.client.get(f"/api/documents/{before['upload:guide.docx']['doc_id']}",
                                   headers=api.auth("admin")).json()["chunks"]
    bad = wait_job(api, upload(api, "guide.docx", b"PK\x03\x04 this is not really a docx"))
    assert bad["status"] == "failed" and "guide.docx" in bad["error"]
    broken_new = wait_job(api, upload(api, "broken.pdf", b"%PDF-1.4 garbage"))
    assert broken_new["status"] == "failed"
    assert documents(api) == before
    assert sorted(p.name for p in (api.settings.data_dir / "uploads").iterdir()) == ["fees.md", "guide.docx"]
    chunks_after = api.client.get(f"/api/documents/{before['upload:guide.docx']['doc_id']}",
                                  headers=api.auth("admin")).json()["chunks"]
    assert chunks_after == chunks_before
    hits = api.client.post("/api/search", json={"query": "自动扣款日期"}, headers=api.auth("agent")).json()
    assert any("每月8日" in h["text"] for h in hits["results"])


def test_reingest_and_delete(api):
    job = wait_job(api, upload(api, "limits.md", "# 额度\n\n## 提额\n\n按时还款六个月后可申请提额。\n".encode()))
    doc_id = job["result"]["doc_ids"][0]
    again = api.client.post(f"/api/documents/{doc_id}/reingest", headers=api.auth("admin"))
    assert again.status_code == 202
    assert wait_job(api, again.json())["result"]["documents_unchanged"] == 1
    gone = api.client.delete(f"/api/documents/{doc_id}", headers=api.auth("admin"))
    assert gone.status_code == 200 and gone.json()["chunks_removed"] >= 1
    assert api.client.get(f"/api/documents/{doc_id}", headers=api.auth("admin")).status_code == 404
    assert api.client.delete(f"/api/documents/{doc_id}", headers=api.auth("admin")).status_code == 404
    hits = api.client.post("/api/search", json={"query": "申请提额"}, headers=api.auth("agent")).json()["results"]
    assert all(h["doc_id"] != doc_id for h in hits)


def test_search_keeps_answering_and_never_shows_half_a_document(api):
    sections = "\n\n".join(f"## 第{i}条 分期规则\n\n分期业务第{i}条：分期手续费按月收取，第{i}期费率为{i}‰。"
                           for i in range(1, 13))
    observed_counts: list[int] = []
    observed_hits: list[set[str]] = []
    errors: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            r = api.client.post("/api/search", json={"query": "分期手续费费率", "k": 20}, headers=api.auth("agent"))
            if r.status_code != 200:
                errors.append(r.status_code)
                continue
            observed_hits.append({h["chunk_id"] for h in r.json()["results"] if h["title"] == "分期"})
            doc = documents(api).get("upload:installments.md")
            observed_counts.append(doc["chunk_count"] if doc else 0)

    def observations_reach(n: int) -> None:
        deadline = time.monotonic() + 30
        while len(observed_counts) < n and time.monotonic() < deadline:
            time.sleep(0.01)

    t = threading.Thread(target=reader)
    t.start()
    try:
        observations_reach(1)  # the reader sees the index before the upload …
        job = wait_job(api, upload(api, "installments.md", f"# 分期\n\n{sections}\n".encode()))
        observations_reach(len(observed_counts) + 1)  # … throughout it, and after it
    finally:
        stop.set()
        t.join()
    assert job["status"] == "done" and not errors
    final = api.client.get(f"/api/documents/{job['result']['doc_ids'][0]}", headers=api.auth("admin")).json()
    final_ids = {c["chunk_id"] for c in final["chunks"]}
    assert len(final_ids) >= 6 and len(observed_counts) >= 2
    assert set(observed_counts) <= {0, len(final_ids)}
    assert all(seen <= final_ids for seen in observed_hits)
