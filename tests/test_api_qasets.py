"""Q&A sets over HTTP (trainer): CRUD, import/export in the set formats, promoting a live
interaction into a graded item, and evaluation runs in the background with their reports."""

from __future__ import annotations

import time

import pytest
import yaml
from _api_support import build_kb, settings_for, start

SET_YAML = """name: 还款
description: repayment
items:
  - id: r1
    question: 提前还款要收违约金吗？
    reference_answer: 提前还款不收取违约金。
    key_points: [不收取违约金]
    expected_sources: [{title: 提前还款}]
    topic: repayment
  - id: r2
    question: 逾期多久会上报征信？
    key_points: [30天]
    expected_sources: [{title: 逾期处理}]
    topic: overdue
"""


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request, tmp_path_factory):
    url = request.getfixturevalue("postgres_schema_url")() if request.param == "postgres" else None
    settings = settings_for(tmp_path_factory.mktemp("qasets") / "data", url)
    build_kb(settings)
    with start(settings) as api:
        yield api


def new_set(api, name: str) -> int:
    resp = api.client.post("/api/qasets", json={"name": name, "description": "d"}, headers=api.auth("trainer"))
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def test_set_and_item_crud(api):
    h = api.auth("trainer")
    sid = new_set(api, "crud")
    assert api.client.post("/api/qasets", json={"name": "crud"}, headers=h).status_code == 422
    item = api.client.post(f"/api/qasets/{sid}/items", headers=h,
                           json={"question": "怎么提前还款？", "key_points": ["App"], "topic": "repayment"})
    assert item.status_code == 201 and item.json()["author"] == "key:test-trainer"
    iid = item.json()["id"]
    patched = api.client.patch(f"/api/qasets/{sid}/items/{iid}", json={"reviewed": "lead"}, headers=h)
    assert patched.json()["reviewed"] == "lead" and patched.json()["key_points"] == ["App"]
    shown = api.client.get(f"/api/qasets/{sid}", headers=h).json()
    assert shown["items"] == 1 and shown["item_list"][0]["question"] == "怎么提前还款？"
    assert api.client.patch(f"/api/qasets/{sid}", json={"name": "crud-2"}, headers=h).json()["name"] == "crud-2"
    assert api.client.delete(f"/api/qasets/{sid}/items/{iid}", headers=h).status_code == 204
    assert api.client.get(f"/api/qasets/{sid}/items", headers=h).json() == []
    assert api.client.delete(f"/api/qasets/{sid}", headers=h).status_code == 204
    assert api.client.get(f"/api/qasets/{sid}", headers=h).status_code == 404


def test_import_and_export_round_trip(api):
    h = api.auth("trainer")
    sid = new_set(api, "imported")
    resp = api.client.post(f"/api/qasets/{sid}/import", files={"file": ("set.yaml", SET_YAML.encode())}, headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["items"] == 2
    bad = api.client.post(f"/api/qasets/{sid}/import", headers=h,
                          files={"file": ("bad.jsonl", b'{"question": "ok"}\n{"question": 5}\n')})
    assert bad.status_code == 422 and "2" in bad.json()["detail"]
    assert len(api.client.get(f"/api/qasets/{sid}/items", headers=h).json()) == 2
    exported = api.client.get(f"/api/qasets/{sid}/export", params={"format": "yaml"}, headers=h)
    data = yaml.safe_load(exported.text)
    assert [i["id"] for i in data["items"]] == ["r1", "r2"]
    assert data["items"][0]["expected_sources"] == [{"title": "提前还款"}]
    csv_text = api.client.get(f"/api/qasets/{sid}/export", params={"format": "csv"}, headers=h).text
    assert csv_text.splitlines()[0].startswith("id,question") and "逾期多久" in csv_text
    events = api.client.get("/api/audit", params={"action": "qaset.export"}, headers=api.auth("admin")).json()
    assert len(events) >= 2


def test_promote_an_edited_interaction(api):
    agent = api.auth("agent")
    asked = api.client.post("/api/ask", json={"question": "提前还款收费吗？"}, headers=agent).json()
    sid = new_set(api, "promoted")
    body = {"interaction_id": asked["interaction_id"], "key_points": ["不收取违约金"]}
    no_reply = api.client.post(f"/api/qasets/{sid}/promote", json=body, headers=api.auth("trainer"))
    assert no_reply.status_code == 422 and "reference_answer" in no_reply.json()["detail"]
    api.client.post("/api/feedback", headers=agent, json={"interaction_id": asked["interaction_id"],
                                                          "verdict": "edited", "edited_reply": "您好，提前还款免违约金。"})
    item = api.client.post(f"/api/qasets/{sid}/promote", json=body, headers=api.auth("trainer"))
    assert item.status_code == 201, item.text
    got = item.json()
    assert got["reference_answer"] == "您好，提前还款免违约金。" and got["key_points"] == ["不收取违约金"]
    assert got["question"] == asked["question"] and got["source_interaction_id"] == asked["interaction_id"]
    assert got["grades"][0]["verdict"] == "edited"
    missing = api.client.post(f"/api/qasets/{sid}/promote", json={**body, "interaction_id": 999999},
                              headers=api.auth("trainer"))
    assert missing.status_code == 404


def wait_run(api, run_id: int, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = api.client.get(f"/api/evals/{run_id}", headers=api.auth("trainer")).json()
        if run["status"] in ("done", "failed") or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def test_eval_run_in_the_background_with_reports(api):
    h = api.auth("trainer")
    sid = new_set(api, "gate")
    api.client.post(f"/api/qasets/{sid}/import", files={"file": ("set.yaml", SET_YAML.encode())}, headers=h)
    started = api.client.post("/api/evals", json={"qaset_id": sid}, headers=h)
    assert started.status_code == 202 and started.json()["status"] in ("queued", "running", "done")
    run = wait_run(api, started.json()["id"])
    assert run["status"] == "done", run
    assert run["overall"]["n"] == 2 and 0.0 <= run["overall"]["accuracy"] <= 1.0
    assert set(run["per_topic"]) == {"repayment", "overdue"}
    report = api.client.get(f"/api/evals/{run['id']}/report", headers=h).json()
    assert [q["question"] for q in report["per_question"]] == ["提前还款要收违约金吗？", "逾期多久会上报征信？"]
    html = api.client.get(f"/api/evals/{run['id']}/report", params={"format": "html"}, headers=h)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html") and "还款" in html.text
    metrics = api.client.get("/api/metrics/accuracy", headers=h).json()
    assert metrics["evals"][0]["set_name"] == "gate" and metrics["evals"][0]["latest"]["run_id"] == run["id"]
    empty = new_set(api, "empty")
    assert api.client.post("/api/evals", json={"qaset_id": empty}, headers=h).status_code == 422
    assert api.client.get("/api/evals/999999/report", headers=h).status_code == 404
