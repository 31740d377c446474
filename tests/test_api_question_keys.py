"""/api/question-keys over HTTP: trainers add keys from an accepted reply and from a graded Q&A set,
see each key's origin, and remove them by origin; agents cannot."""

from __future__ import annotations

import pytest
from _api_support import build_kb, settings_for, start

SET_YAML = """name: 还款问法
items:
  - id: r1
    question: 我想早点把钱还清会不会被罚钱
    reference_answer: 提前还款不收取违约金。
    expected_sources: [{title: 提前还款, section: 申请方式}]
  - id: r2
    question: 公司能不能借我十万
    expected_sources: []
    answerable: false
"""


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    settings = settings_for(tmp_path_factory.mktemp("keys") / "data")
    build_kb(settings)
    with start(settings) as api:
        yield api


def test_agents_cannot_read_or_change_keys(api):
    for method, path in (("get", "/api/question-keys"), ("delete", "/api/question-keys?origin=trainer:x"),
                         ("post", "/api/question-keys")):
        assert getattr(api.client, method)(path, headers=api.auth("agent")).status_code == 403
    assert api.client.get("/api/question-keys").status_code == 401


def test_an_accepted_replys_question_becomes_a_key_of_the_chunk_it_cited(api):
    agent, trainer = api.auth("agent"), api.auth("trainer")
    asked = api.client.post("/api/ask", json={"question": "提前还款收费吗？"}, headers=agent).json()
    cited = asked["citations"][0]["chunk_id"]
    kb = api.app.state.kb
    all_cited = {c["chunk_id"] for c in asked["citations"]}
    other = next(c for d in kb.documents() for c in kb.chunks_of(d.doc_id) if c.chunk_id not in all_cited)
    wrong = api.client.post("/api/question-keys", headers=trainer,
                            json={"chunk_id": other.chunk_id, "question": "提前还款收费吗？", "interaction_id": asked["interaction_id"]})
    assert wrong.status_code == 422  # only for a chunk that reply cited
    made = api.client.post("/api/question-keys", headers=trainer,
                           json={"chunk_id": cited, "question": "提前还款收费吗？", "interaction_id": asked["interaction_id"]})
    assert made.status_code == 201, made.text
    (key,) = made.json()["added"]
    assert key["origin"] == f"accepted:{asked['interaction_id']}" and key["title"]
    listed = api.client.get("/api/question-keys", headers=trainer).json()
    assert any(k["origin"] == key["origin"] and k["chunk_id"] == cited for k in listed)
    assert api.client.post("/api/question-keys", headers=trainer, json={"chunk_id": cited, "question": ""}).status_code == 422
    assert api.client.post("/api/question-keys", headers=trainer,
                           json={"chunk_id": "nope", "question": "x"}).status_code == 404
    gone = api.client.delete(f"/api/question-keys?origin={key['origin']}", headers=trainer)
    assert gone.status_code == 200 and gone.json()["removed"] == 1
    assert api.client.get(f"/api/question-keys?origin={key['origin']}", headers=trainer).json() == []


def test_a_graded_sets_answerable_items_become_keys_of_their_expected_sources(api):
    trainer = api.auth("trainer")
    sid = api.client.post("/api/qasets", json={"name": "还款问法", "description": ""}, headers=trainer).json()["id"]
    imported = api.client.post(f"/api/qasets/{sid}/import", headers=trainer,
                               files={"file": ("set.yaml", SET_YAML.encode(), "application/x-yaml")})
    assert imported.status_code == 200, imported.text
    made = api.client.post(f"/api/question-keys/from-qaset/{sid}", headers=trainer)
    assert made.status_code == 201, made.text
    added = made.json()["added"]
    assert [(k["question"], k["origin"]) for k in added] == [("我想早点把钱还清会不会被罚钱", "qaset:还款问法#r1")]
    assert added[0]["section"].endswith("申请方式")
    hits = api.client.post("/api/search", json={"query": "我想早点把钱还清会不会被罚钱", "k": 1}, headers=api.auth("agent"))
    assert hits.status_code == 200 and hits.json()["results"][0]["chunk_id"] == added[0]["chunk_id"]
    assert api.client.delete("/api/question-keys?origin=qaset:还款问法", headers=trainer).json()["removed"] == 1
