"""Complaints, follow-up calls, past cases, the service KPIs, spot checks and the offline pack over
HTTP against the real app on a small real knowledge base, with the demo company's complaint rules:
who may do what, the whole life of a complaint, a promoted case cited in a later reply, KPI JSON
and CSV, and bad input refused without changing anything."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from _api_support import build_kb, settings_for, start

DEMO_RULES = Path(__file__).resolve().parent.parent / "bundles" / "demo" / "rules" / "complaints.yaml"
COMPLAINT = "你们的催收员天天打电话到我单位，还跟我同事说我欠钱不还，我要投诉！我要求你们马上停止并向我道歉。"
RESOLUTION = "核实后确认催收员违规向客户同事透露欠款信息，已对催收员处罚并停止联系第三人，向客户致歉。"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("complaints") / "data", None, complaint_rules=DEMO_RULES)
    build_kb(settings)
    with start(settings) as api:
        for name, role in (("agent-a", "agent"), ("agent-b", "agent"), ("boss", "supervisor")):
            user = api.records.add_user(name, role, password="password-1")
            api.keys[name] = api.records.create_key(name, role, user_id=user.id)[1]
        api.records.set_team("agent-a", "一组")
        yield api


def _record(api, who="agent-a"):
    h = api.auth(who)
    asked = api.client.post("/api/ask", json={"question": COMPLAINT}, headers=h).json()
    assert "complaint" in asked["flags"]
    draft = api.client.post("/api/complaints/draft", json={"interaction_id": asked["interaction_id"]}, headers=h)
    assert draft.status_code == 200, draft.text
    d = draft.json()
    body = {k: d[k] for k in ("narrative", "request", "topic", "product", "amount", "signals", "procedure_step",
                              "procedure_source")}
    saved = api.client.post("/api/complaints", json={**body, "interaction_id": asked["interaction_id"]}, headers=h)
    assert saved.status_code == 201, saved.text
    return d, saved.json()


def test_the_whole_life_of_a_complaint_ends_as_a_cited_past_case(api):
    draft, c = _record(api)
    assert draft["topic"] == "催收" and draft["department"] == "贷后管理部"
    assert "打电话到我单位" in draft["narrative"] and draft["request"].startswith("我要求你们马上停止")
    assert (c["status"], c["department"], c["team"], c["agent"]) == ("new", "贷后管理部", "一组", "agent-a")
    h = api.auth("agent-a")
    cid = c["id"]
    assert api.client.post(f"/api/complaints/{cid}/route", json={}, headers=h).json()["status"] == "routed"
    resolved = api.client.post(f"/api/complaints/{cid}/resolve", json={"resolution": RESOLUTION}, headers=h).json()
    assert resolved["status"] == "resolved" and resolved["followup"]["outcome"] is None
    (task,) = [t for t in api.client.get("/api/followups", headers=h).json() if t["complaint_id"] == cid]
    assert api.client.post(f"/api/complaints/{cid}/close", headers=h).status_code == 422  # the call comes first
    done = api.client.post(f"/api/followups/{task['id']}", json={"outcome": "satisfied", "note": "客户满意"}, headers=h)
    assert done.status_code == 200 and done.json()["outcome"] == "satisfied"
    closed = api.client.post(f"/api/complaints/{cid}/close", headers=h).json()
    assert closed["status"] == "closed"
    assert [e["action"] for e in closed["history"]] == ["complaint.create", "complaint.route", "complaint.resolve",
                                                        "complaint.followup", "complaint.close"]
    assert {e["actor"] for e in closed["history"]} == {"agent-a"}
    # a trainer reviews the proposed case and promotes it; the next agent gets it cited
    assert api.client.get(f"/api/complaints/{cid}/case", headers=h).status_code == 403
    case = api.client.get(f"/api/complaints/{cid}/case", headers=api.auth("trainer")).json()
    assert case["outcome"] == "已解决，客户满意" and case["resolution"] == RESOLUTION
    promoted = api.client.post(f"/api/complaints/{cid}/case", headers=api.auth("trainer"),
                               json={"customer_issue": case["customer_issue"], "resolution": case["resolution"]})
    assert promoted.status_code == 200, promoted.text
    assert promoted.json()["case_doc_id"] and promoted.json()["promoted_by"] == "key:test-trainer"
    later = api.client.post("/api/ask", json={"question": "催收打电话到我公司跟同事说我欠钱，这样可以吗？"},
                            headers=api.auth("agent-b")).json()
    assert not later["abstained"]
    assert any(c["title"] == "历史案例：投诉案例" and "催收员" in c["quote"] for c in later["citations"])


def test_agents_see_their_own_complaints_and_supervisors_every_one(api):
    _, c = _record(api, "agent-a")
    cid = c["id"]
    assert api.client.get(f"/api/complaints/{cid}", headers=api.auth("agent-b")).status_code == 403
    assert cid not in [x["id"] for x in api.client.get("/api/complaints", headers=api.auth("agent-b")).json()]
    assert cid in [x["id"] for x in api.client.get("/api/complaints", headers=api.auth("boss")).json()]
    assert api.client.post(f"/api/complaints/{cid}/route", json={"department": "法务部"},
                           headers=api.auth("agent-a")).status_code == 403  # only a supervisor names another
    assert api.client.post(f"/api/complaints/{cid}/extend", json={"reason": "需调取录音"},
                           headers=api.auth("agent-a")).status_code == 403
    extended = api.client.post(f"/api/complaints/{cid}/extend", json={"reason": "需调取录音"}, headers=api.auth("boss"))
    assert extended.status_code == 200 and extended.json()["extended"]
    routed = api.client.post(f"/api/complaints/{cid}/route", json={"department": "法务部"}, headers=api.auth("boss"))
    assert routed.json()["department"] == "法务部"
    assert api.client.get("/api/metrics/overdue", headers=api.auth("agent-a")).status_code == 403
    assert set(api.client.get("/api/metrics/overdue", headers=api.auth("boss")).json()) == {
        "complaints", "response", "resolution", "followup"}


def test_bad_input_is_refused_and_changes_nothing(api):
    h = api.auth("agent-a")
    before = api.records.count("complaints")
    for body in ({"narrative": ""}, {"narrative": "x", "topic": "天气"}, {"narrative": "x", "amount": -5},
                 {"narrative": "x" * 8001}):
        resp = api.client.post("/api/complaints", json=body, headers=h)
        assert resp.status_code == 422 and resp.json()["detail"], body
    assert api.client.post("/api/complaints", content=b"{not json", headers={**h, "Content-Type": "application/json"}
                           ).status_code == 422
    assert api.client.post("/api/complaints/draft", json={}, headers=h).status_code == 422
    assert api.records.count("complaints") == before
    assert api.client.get("/api/complaints/999999", headers=h).status_code == 404
    assert api.client.get("/api/complaints?status=lost", headers=h).status_code == 422
    assert api.client.post("/api/followups/999999", json={"outcome": "happy"}, headers=h).status_code == 422


def test_kpis_as_json_and_csv(api):
    _record(api, "agent-a")
    h = api.auth("boss")
    report = api.client.get("/api/metrics/kpis?period=month&by=team", headers=h)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["timezone"] == "Asia/Shanghai" and body["rows"]
    team = next(r for r in body["totals"] if r["group"] == "一组")
    assert team["complaints"] >= 1 and team["conversations"] >= team["complaints"]
    assert team["complaint_rate"] == round(team["complaints"] / team["conversations"], 4)
    resp = api.client.get("/api/metrics/kpis?period=month&by=team&format=csv", headers=h)
    assert resp.headers["content-type"].startswith("text/csv") and "attachment" in resp.headers["content-disposition"]
    assert resp.text.startswith("\ufeffperiod,start,group,conversations,complaints")
    rows = list(csv.DictReader(io.StringIO(resp.text.lstrip("\ufeff"))))
    assert {(r["group"], int(r["complaints"])) for r in rows} == {(r["group"], r["complaints"]) for r in body["rows"]}
    assert api.client.get("/api/metrics/kpis?period=year", headers=h).status_code == 422
    assert api.client.get("/api/metrics/kpis", headers=api.auth("agent-a")).status_code == 403


def test_spot_checks_feed_the_accuracy_kpi_and_a_qa_set(api):
    h = api.auth("trainer")
    drawn = api.client.post("/api/spotchecks", json={"size": 2, "agent": "agent-a", "seed": 1}, headers=h)
    assert drawn.status_code == 201, drawn.text
    first = drawn.json()[0]
    assert first["team"] == "一组" and first["accurate"] is None
    graded = api.client.put(f"/api/spotchecks/{first['id']}", headers=h,
                            json={"accurate": True, "complete": True, "polite": True, "compliant": True, "comment": "好"})
    assert graded.json()["accurate"] is True and graded.json()["graded_by"] == "key:test-trainer"
    kpis = api.client.get("/api/metrics/kpis?period=month", headers=h).json()
    assert sum(r["spot_checked"] for r in kpis["rows"]) >= 1 and any(r["answer_accuracy"] for r in kpis["rows"])
    qaset = api.client.post("/api/qasets", json={"name": "抽查"}, headers=h).json()
    item = api.client.post(f"/api/spotchecks/{first['id']}/item", headers=h,
                           json={"qaset_id": qaset["id"], "key_points": ["停止联系第三人"]})
    assert item.status_code == 201, item.text
    assert item.json()["grades"][0]["accurate"] is True and item.json()["source_interaction_id"] == first["interaction_id"]
    assert api.client.put(f"/api/spotchecks/{first['id']}", json={"accurate": True}, headers=h).status_code == 422
    assert api.client.post("/api/spotchecks", json={"size": 0}, headers=h).status_code == 422
    assert api.client.post("/api/spotchecks", json={"size": 1}, headers=api.auth("boss")).status_code == 403


def test_the_offline_pack_and_encryption_status(api):
    resp = api.client.get("/api/offline-pack", headers=api.auth("agent-a"))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    assert "提前还款不收取违约金" in resp.text and 'id="pack-data"' in resp.text
    assert api.client.get("/api/offline-pack").status_code == 401
    status = api.client.get("/api/admin/encryption", headers=api.auth("admin")).json()
    assert status["primary"] in status["keys"] and "plain" not in status["values"]
    assert api.client.get("/api/admin/encryption", headers=api.auth("boss")).status_code == 403


def test_a_group_name_a_spreadsheet_would_run_is_quoted_in_the_csv():
    from api.routers.metrics import kpis_csv

    row = {"period": "2026-03", "start": "2026-03-01", "group": "=HYPERLINK(\"x\")", "complaints": 1}
    text = kpis_csv({"rows": [row]})
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_the_offline_pack_address_must_be_a_web_or_file_address():
    from pydantic import ValidationError as SettingsError

    from kb.settings import Settings

    with pytest.raises(SettingsError, match="offline pack"):
        Settings(offline_pack_url="javascript:alert(1)")
    assert Settings(offline_pack_url="file:///S:/citedesk/index.html").offline_pack_url.startswith("file:")
