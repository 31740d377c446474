"""The review queue: an accepted reply's question is offered as a phrasing (question key) of each
source the reply cited, and a trainer's click adds it with its origin."""

from __future__ import annotations

from bs4 import BeautifulSoup

from api.tasks import JobManager
from api.writes import LocalWrites
from kb.keys import list_keys
from kb.knowledge import KnowledgeBase
from tests._ui_support import _csrf, signed_in, site  # noqa: F401 - site is a fixture


def test_an_accepted_replys_question_is_confirmed_as_a_key_of_the_cited_source(site):
    app, kb, records = site
    doc = kb.documents()[0]
    chunk = kb.chunks_of(doc.doc_id)[0]
    answer = {"question": "钱能不能早点还上", "answer": "可以申请提前还款[1]。",
              "citations": [{"n": 1, "chunk_id": chunk.chunk_id, "doc_id": doc.doc_id, "title": doc.title,
                             "section": chunk.section}]}
    accepted = records.save_interaction(answer, kind="product")
    records.add_feedback(accepted, "accepted")
    rejected = records.save_interaction({**answer, "question": "被驳回的"})
    records.add_feedback(rejected, "rejected")
    writer = KnowledgeBase.open(kb.settings, writer=True)
    app.state.writes = LocalWrites(writer, JobManager(), kb.settings.data_dir)
    try:
        client = signed_in(site, "trainer1")
        page = BeautifulSoup(client.get("/trainer/review").text, "html.parser")
        assert page.find("article", id=f"interaction-{accepted}").select("form.propose-key")
        assert not page.find("article", id=f"interaction-{rejected}").select("form.propose-key")
        token = _csrf(str(page))
        other = client.post(f"/trainer/review/{accepted}/key", data={"csrf": token, "chunk_id": "not-cited"})
        assert "error=" in other.headers["location"] and list_keys(writer) == []
        assert client.post(f"/trainer/review/{accepted}/key", data={"chunk_id": chunk.chunk_id}).status_code == 403
        done = client.post(f"/trainer/review/{accepted}/key", data={"csrf": token, "chunk_id": chunk.chunk_id})
        assert done.headers["location"] == f"/trainer/review?keyed={accepted}"
        (key,) = list_keys(writer)
        assert (key.chunk_id, key.question, key.origin, key.added_by) == (
            chunk.chunk_id, "钱能不能早点还上", f"accepted:{accepted}", "trainer1")
        assert "钱能不能早点还上" in writer.get_chunk(chunk.chunk_id).meta["keys"]
        agent = signed_in(site, "agent1")
        assert agent.post(f"/trainer/review/{accepted}/key",
                          data={"csrf": _csrf(agent.get("/sidebar").text), "chunk_id": chunk.chunk_id}).status_code in (303, 403)
        assert len(list_keys(writer)) == 1
    finally:
        writer.close()


def test_the_keys_page_shows_each_keys_origin_and_removes_by_origin(site):
    app, kb, records = site
    doc = kb.documents()[0]
    chunk = kb.chunks_of(doc.doc_id)[0]
    writer = KnowledgeBase.open(kb.settings, writer=True)
    app.state.writes = LocalWrites(writer, JobManager(), kb.settings.data_dir)
    try:
        from kb.keys import add_keys

        add_keys(writer, [(chunk.chunk_id, "钱早点还清行不行", "qaset:还款#r7"), (chunk.chunk_id, "能提前结清吗", "trainer:trainer1")])
        client = signed_in(site, "trainer1")
        page = BeautifulSoup(client.get("/trainer/keys").text, "html.parser")
        rows = {tr["data-origin"]: tr.get_text(" ", strip=True) for tr in page.select("tr[data-origin]")}
        assert "钱早点还清行不行" in rows["qaset:还款#r7"] and "评测集题目" in rows["qaset:还款#r7"]
        assert doc.title in rows["trainer:trainer1"]
        token = _csrf(str(page))
        done = client.post("/trainer/keys/remove", data={"csrf": token, "origin": "qaset:还款#r7"})
        assert done.headers["location"] == "/trainer/keys?removed=1"
        origins = [k.origin for k in list_keys(writer)]
        assert "qaset:还款#r7" not in origins and "trainer:trainer1" in origins
        agent = signed_in(site, "agent1")
        assert agent.get("/trainer/keys").status_code in (303, 403)
    finally:
        writer.close()
