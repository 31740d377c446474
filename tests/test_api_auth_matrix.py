"""Every endpoint × every role: 401 without or with a bad key, 403 below the endpoint's role,
allowed at or above it — on SQLite and on PostgreSQL records."""

from __future__ import annotations

import pytest
from _api_support import build_kb, settings_for, start
from fastapi.routing import APIRoute

# (method, path, lowest role allowed, request kwargs). Allowed calls use ids that do not exist
# where they would otherwise change data, so the matrix leaves the installation as it found it.
MATRIX = [
    ("POST", "/api/ask", "agent", {"json": {"question": "怎么提前还款？"}}),
    ("POST", "/api/search", "agent", {"json": {"query": "提前还款"}}),
    ("POST", "/api/feedback", "agent", {"json": {"interaction_id": 999999, "verdict": "accepted"}}),
    ("GET", "/api/metrics/accuracy", "trainer", {}),
    ("GET", "/api/documents", "admin", {}),
    ("POST", "/api/documents", "admin", {"files": {"file": ("x.exe", b"MZ")}}),
    ("GET", "/api/documents/jobs/nope", "admin", {}),
    ("GET", "/api/documents/d_nope", "admin", {}),
    ("DELETE", "/api/documents/d_nope", "admin", {}),
    ("POST", "/api/documents/d_nope/reingest", "admin", {}),
    ("GET", "/api/qasets", "trainer", {}),
    ("POST", "/api/qasets", "trainer", {"json": {"name": ""}}),
    ("GET", "/api/qasets/999999", "trainer", {}),
    ("PATCH", "/api/qasets/999999", "trainer", {"json": {"description": "x"}}),
    ("DELETE", "/api/qasets/999999", "trainer", {}),
    ("GET", "/api/qasets/999999/items", "trainer", {}),
    ("POST", "/api/qasets/999999/items", "trainer", {"json": {"question": "q"}}),
    ("PATCH", "/api/qasets/999999/items/1", "trainer", {"json": {"topic": "x"}}),
    ("DELETE", "/api/qasets/999999/items/1", "trainer", {}),
    ("POST", "/api/qasets/999999/import", "trainer", {"files": {"file": ("s.yaml", b"items: []")}}),
    ("GET", "/api/qasets/999999/export", "trainer", {}),
    ("POST", "/api/qasets/999999/promote", "trainer", {"json": {"interaction_id": 1, "key_points": ["x"]}}),
    ("GET", "/api/evals", "trainer", {}),
    ("POST", "/api/evals", "trainer", {"json": {"qaset_id": 999999}}),
    ("GET", "/api/evals/999999", "trainer", {}),
    ("GET", "/api/evals/999999/report", "trainer", {}),
    ("GET", "/api/audit", "admin", {}),
    ("POST", "/api/admin/backup", "admin", {}),
    ("GET", "/api/admin/encryption", "admin", {}),
    ("POST", "/api/complaints/draft", "agent", {"json": {"text": "你们乱收费，我要投诉"}}),
    ("POST", "/api/complaints", "agent", {"json": {"narrative": ""}}),
    ("GET", "/api/complaints", "agent", {}),
    ("GET", "/api/complaints/999999", "agent", {}),
    ("PATCH", "/api/complaints/999999", "agent", {"json": {"product": "x"}}),
    ("POST", "/api/complaints/999999/route", "agent", {"json": {}}),
    ("POST", "/api/complaints/999999/extend", "supervisor", {"json": {"reason": "x"}}),
    ("POST", "/api/complaints/999999/resolve", "agent", {"json": {"resolution": "x"}}),
    ("POST", "/api/complaints/999999/reopen", "agent", {"json": {"reason": "x"}}),
    ("POST", "/api/complaints/999999/close", "agent", {}),
    ("GET", "/api/complaints/999999/case", "trainer", {}),
    ("POST", "/api/complaints/999999/case", "trainer", {"json": {"customer_issue": "x", "resolution": "y"}}),
    ("GET", "/api/followups", "agent", {}),
    ("POST", "/api/followups/999999", "agent", {"json": {"outcome": "satisfied"}}),
    ("GET", "/api/metrics/kpis", "supervisor", {}),
    ("GET", "/api/metrics/overdue", "supervisor", {}),
    ("POST", "/api/spotchecks", "trainer", {"json": {"size": 0}}),
    ("GET", "/api/spotchecks", "trainer", {}),
    ("GET", "/api/spotchecks/samples", "trainer", {}),
    ("PUT", "/api/spotchecks/999999", "trainer",
     {"json": {"accurate": True, "complete": True, "polite": True, "compliant": True}}),
    ("POST", "/api/spotchecks/999999/item", "trainer", {"json": {"qaset_id": 999999, "key_points": ["x"]}}),
    ("GET", "/api/offline-pack", "agent", {}),
]
RANK = {"agent": 0, "supervisor": 1, "trainer": 2, "admin": 3}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request, tmp_path_factory):
    url = request.getfixturevalue("postgres_schema_url")() if request.param == "postgres" else None
    settings = settings_for(tmp_path_factory.mktemp("matrix") / "data", url)
    build_kb(settings)
    with start(settings) as api:
        yield api


def _template(path: str) -> str:
    import re

    return re.sub(r"/(999999|d_nope|nope)(?=/|$)", "/{}", path).replace("/items/1", "/items/{}")


def test_the_matrix_covers_every_api_route(api):
    declared = {(m, _template(p)) for m, p, _, _ in MATRIX}
    routes = set()
    for r in api.app.routes:
        if isinstance(r, APIRoute) and r.path.startswith("/api/"):
            import re

            for m in r.methods:
                routes.add((m, re.sub(r"\{[^}]+\}", "{}", r.path)))
    assert routes - declared == set(), "endpoints without a role test"


@pytest.mark.parametrize("method,path,minimum,kwargs", MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_role_rules(api, method, path, minimum, kwargs):
    assert api.client.request(method, path, **kwargs).status_code == 401
    bad = api.client.request(method, path, headers={"Authorization": "Bearer cdk_not-a-key"}, **kwargs)
    assert bad.status_code == 401 and bad.headers.get("www-authenticate") == "Bearer"
    for role, rank in RANK.items():
        resp = api.client.request(method, path, headers=api.auth(role), **kwargs)
        if rank < RANK[minimum]:
            assert resp.status_code == 403, (role, resp.text)
            assert minimum in resp.json()["detail"]
        else:
            assert resp.status_code not in (401, 403), (role, resp.status_code, resp.text)
            assert resp.status_code < 500, (role, resp.text)


def test_healthz_needs_no_key(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}  # nothing more for anyone
    body = api.client.get("/healthz", headers=api.auth("admin")).json()
    assert body["status"] == "ok" and body["documents"] == 2 and body["chunks"] >= 4
    assert body["records_backend"] in ("sqlite", "postgresql") and body["embedder"]


def test_a_revoked_key_stops_working(api):
    key, raw = api.records.create_key("temp", "admin")
    headers = {"Authorization": f"Bearer {raw}"}
    assert api.client.get("/api/audit", headers=headers).status_code == 200
    api.records.revoke_key(key.id)
    assert api.client.get("/api/audit", headers=headers).status_code == 401
