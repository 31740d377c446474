"""Asking, searching, feedback and live metrics over HTTP against the real app on a small real
knowledge base; readable 422s; personal numbers never reach the records database."""

from __future__ import annotations

import pytest
from _api_support import build_kb, settings_for, start
from sqlalchemy import text

ID_NUMBER = "110101199003074514"
MOBILE = "13812345678"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request, tmp_path_factory):
    url = request.getfixturevalue("postgres_schema_url")() if request.param == "postgres" else None
    settings = settings_for(tmp_path_factory.mktemp("core") / "data", url)
    build_kb(settings)
    with start(settings) as api:
        yield api


def test_ask_returns_a_cited_answer_and_stores_the_interaction(api):
    resp = api.client.post("/api/ask", json={"question": "提前还款要收违约金吗？"}, headers=api.auth("agent"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["interaction_id"] >= 1
    assert {"question", "answer", "citations", "abstained", "confidence", "flags", "mode", "latency_ms"} <= set(body)
    if not body["abstained"]:
        assert body["citations"] and body["citations"][0]["title"] in ("提前还款", "逾期处理")
    row = api.records.get_interaction(body["interaction_id"])
    assert row.answer == body["answer"] and row.snapshot_id and row.settings_hash


def test_personal_numbers_never_reach_the_records_database(api):
    q = f"我的身份证号{ID_NUMBER}，手机{MOBILE}，逾期了会上征信吗？"
    body = api.client.post("/api/ask", json={"question": q}, headers=api.auth("agent")).json()
    assert ID_NUMBER not in body["question"] and MOBILE not in body["question"]
    fb = api.client.post("/api/feedback", headers=api.auth("agent"), json={
        "interaction_id": body["interaction_id"], "verdict": "edited",
        "edited_reply": f"已为尾号{MOBILE}的客户说明。", "comment": f"客户身份证 {ID_NUMBER}"})
    assert fb.status_code == 201, fb.text
    with api.records.engine.connect() as conn:
        dump = " ".join(str(conn.execute(text(f"SELECT * FROM {t}")).fetchall())
                        for t in ("interactions", "feedback", "audit_events"))
    assert ID_NUMBER not in dump and MOBILE not in dump


def test_search_gives_ranked_chunks(api):
    resp = api.client.post("/api/search", json={"query": "罚息怎么算", "k": 2}, headers=api.auth("agent"))
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert 1 <= len(results) <= 2 and results[0]["rank"] == 1
    assert "罚息" in results[0]["text"] and results[0]["title"] == "逾期处理"
    assert results[0]["score"] >= results[-1]["score"]


def test_feedback_rules(api):
    iid = api.client.post("/api/ask", json={"question": "怎么提前还款？"}, headers=api.auth("agent")).json()[
        "interaction_id"]
    h = api.auth("agent")
    missing = api.client.post("/api/feedback", json={"interaction_id": 999999, "verdict": "accepted"}, headers=h)
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    no_reply = api.client.post("/api/feedback", json={"interaction_id": iid, "verdict": "edited"}, headers=h)
    assert no_reply.status_code == 422 and "edited reply" in no_reply.json()["detail"]
    bad_verdict = api.client.post("/api/feedback", json={"interaction_id": iid, "verdict": "meh"}, headers=h)
    assert bad_verdict.status_code == 422 and "verdict" in bad_verdict.json()["detail"]
    assert api.records.feedback_for(iid) == []
    ok = api.client.post("/api/feedback", json={"interaction_id": iid, "verdict": "accepted"}, headers=h)
    assert ok.status_code == 201 and ok.json()["verdict"] == "accepted"


def test_accuracy_metrics_follow_feedback(api):
    h = api.auth("agent")
    before = api.client.get("/api/metrics/accuracy", headers=api.auth("trainer")).json()
    iid = api.client.post("/api/ask", json={"question": "逾期罚息多少？", "kind": "procedure"}, headers=h).json()[
        "interaction_id"]
    api.client.post("/api/feedback", json={"interaction_id": iid, "verdict": "rejected"}, headers=h)
    after = api.client.get("/api/metrics/accuracy", headers=api.auth("trainer")).json()
    assert after["overall"]["interactions"] == before["overall"]["interactions"] + 1
    assert after["overall"]["with_feedback"] == before["overall"]["with_feedback"] + 1
    assert after["per_topic"]["kind:procedure"]["rejected_rate"] == 1.0
    assert after["per_day"][-1]["interactions"] >= 1


@pytest.mark.parametrize("body,field", [
    ('{"question": "x"', "not valid JSON"),
    ('{"question": ""}', "question"),
    ('{"question": 5}', "question"),
    ('[1, 2]', "body"),
    ('{"question": "怎么还款", "kind": null, "extra": 1}', None),
])
def test_malformed_requests_get_a_readable_422(api, body, field):
    resp = api.client.post("/api/ask", content=body, headers={**api.auth("agent"), "Content-Type": "application/json"})
    if field is None:
        assert resp.status_code == 200
        return
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and field in detail


def test_a_blank_question_is_refused_by_the_answerer(api):
    resp = api.client.post("/api/ask", json={"question": "   "}, headers=api.auth("agent"))
    assert resp.status_code == 422 and resp.json()["detail"]


def test_openapi_documents_the_shapes(api):
    schema = api.client.get("/openapi.json").json()
    ask = schema["paths"]["/api/ask"]["post"]
    assert ask["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("AskRequest")
    assert "AskResponse" in schema["components"]["schemas"]
    assert api.client.get("/docs").status_code == 200


def test_pages_may_be_framed_only_by_citedesk_and_the_configured_origins(tmp_path):
    from pydantic import ValidationError

    crm = settings_for(tmp_path / "crm", frame_ancestors="https://crm.example.com  http://10.0.0.5:8080")
    with start(crm) as api:
        for path in ("/login", "/sidebar", "/widget.js", "/healthz", "/api/ask"):
            headers = api.client.get(path, follow_redirects=False).headers
            assert headers["content-security-policy"] == "frame-ancestors 'self' https://crm.example.com http://10.0.0.5:8080"
            assert headers["x-content-type-options"] == "nosniff"
    with start(settings_for(tmp_path / "plain")) as api:
        assert api.client.get("/login").headers["content-security-policy"] == "frame-ancestors 'self'"
    with pytest.raises(ValidationError, match="not an origin"):
        settings_for(tmp_path / "bad", frame_ancestors="crm.example.com")
