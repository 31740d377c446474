"""The KnowledgeBase facade: atomic upserts, no needless embedding, the writer lock, reindex."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kb.errors import ConfigError, NotFoundError, StoreError, ValidationError, WriterLockedError
from kb.index.embedders import make_embedder
from kb.knowledge import KnowledgeBase
from kb.settings import Settings
from kb.types import Chunk, Document, SearchFilters, make_chunk_id, make_doc_id


class CountingEmbedder:
    """Wraps the real embedder; counts passages embedded and can be told to fail."""

    def __init__(self, inner, fail_after: int | None = None, name: str | None = None):
        self.inner = inner
        self.name = name or inner.name
        self.dim = inner.dim
        self.passages = 0
        self.queries: list[list[str]] = []
        self.fail_after = fail_after

    def embed_queries(self, texts):
        self.queries.append(list(texts))
        return self.inner.embed_queries(texts)

    def embed_passages(self, texts):
        if self.fail_after is not None and self.passages + len(texts) > self.fail_after:
            raise RuntimeError("embedding backend crashed")
        self.passages += len(texts)
        return self.inner.embed_passages(texts)


def make_doc(source: str, title: str, texts: list[str], kind: str = "procedure", **meta):
    doc_id = make_doc_id(source)
    doc = Document(doc_id, title, kind, source, "\n".join(texts), meta)
    chunks = [Chunk(make_chunk_id(doc_id, t, f"第{i + 1}条"), doc_id, t, section=f"第{i + 1}条") for i, t in enumerate(texts)]
    return doc, chunks


REPAY = ["借款人可以在应用内申请提前还款，提前还款按实际借款天数计息。", "逾期还款将产生罚息，并可能影响个人征信记录。"]
REPAY_V2 = ["借款人可以在应用内申请提前还款，提前还款免收手续费。", "逾期还款将产生罚息，并可能影响个人征信记录。"]
CARD = ["信用卡被盗刷时，请立即致电客服冻结卡片，并在二十四小时内报警。"]


@pytest.fixture()
def counting():
    return CountingEmbedder(make_embedder("e5"))


@pytest.fixture()
def kb(tmp_path, counting):
    base = KnowledgeBase.open(Settings(data_dir=tmp_path / "data"), writer=True, embedder=counting)
    yield base
    base.close()


def test_added_document_is_searchable_and_unchanged_upsert_embeds_nothing(kb, counting):
    doc, chunks = make_doc("repay.md", "还款规则", REPAY)
    first = kb.upsert_document(doc, chunks)
    assert (first.status, first.chunks_added, first.chunks_removed) == ("added", 2, 0)
    embedded, snap = counting.passages, kb.snapshot_id
    again = kb.upsert_document(doc, chunks)
    assert again.status == "unchanged"
    assert counting.passages == embedded
    assert kb.snapshot_id == snap
    hits = kb.search("提前还款怎么计息", k=2)
    assert hits[0].chunk.chunk_id == chunks[0].chunk_id
    assert hits[0].chunk.title == "还款规则"
    assert kb.documents()[0].chunk_count == 2


def test_changed_document_replaces_its_chunks_and_embeds_only_new_ones(kb, counting):
    doc, chunks = make_doc("repay.md", "还款规则", REPAY)
    kb.upsert_document(doc, chunks)
    before = counting.passages
    doc2, chunks2 = make_doc("repay.md", "还款规则", REPAY_V2)
    res = kb.upsert_document(doc2, chunks2)
    assert (res.status, res.chunks_added, res.chunks_removed) == ("updated", 1, 1)
    assert counting.passages - before == 1  # the unchanged 罚息 chunk was not embedded again
    assert [c.text for c in kb.chunks_of(doc.doc_id)] == REPAY_V2
    assert kb.get_chunk(chunks[0].chunk_id) is None
    texts = [h.chunk.text for h in kb.search("提前还款", k=5)]
    assert REPAY[0] not in texts and REPAY_V2[0] in texts
    assert kb.stats()["vectors"] == 2


def test_failing_embedder_mid_upsert_leaves_the_old_version_searchable(tmp_path):
    flaky = CountingEmbedder(make_embedder("e5"))
    kb = KnowledgeBase.open(Settings(data_dir=tmp_path / "d"), writer=True, embedder=flaky)
    try:
        doc, chunks = make_doc("repay.md", "还款规则", REPAY)
        kb.upsert_document(doc, chunks)
        snap = kb.snapshot_id
        flaky.fail_after = flaky.passages  # the next embedding call fails
        doc2, chunks2 = make_doc("repay.md", "还款规则", REPAY_V2)
        with pytest.raises(RuntimeError):
            kb.upsert_document(doc2, chunks2)
        assert kb.snapshot_id == snap
        assert [c.text for c in kb.chunks_of(doc.doc_id)] == REPAY
        assert kb.search("提前还款怎么计息", k=1)[0].chunk.text == REPAY[0]
    finally:
        kb.close()


def test_bad_input_is_refused_and_changes_nothing(kb):
    doc, chunks = make_doc("repay.md", "还款规则", REPAY)
    other, _ = make_doc("other.md", "别的", CARD)
    with pytest.raises(ValidationError):
        kb.upsert_document(other, chunks)  # chunks of another document
    with pytest.raises(ValidationError):
        kb.upsert_document(Document(doc.doc_id, "x", "memo", "x", "", {}), [])
    with pytest.raises(ValidationError):
        kb.search("   ")
    assert kb.documents() == [] and kb.stats()["vectors"] == 0


def test_remove_document(kb):
    doc, chunks = make_doc("card.md", "盗刷处理", CARD)
    kb.upsert_document(doc, chunks)
    assert kb.remove_document(doc.doc_id) == 1
    assert kb.search("信用卡被盗刷怎么办") == []
    assert kb.stats()["vectors"] == 0
    with pytest.raises(NotFoundError):
        kb.remove_document(doc.doc_id)


def test_hits_whose_catalog_row_is_gone_are_ignored(kb):
    doc, chunks = make_doc("card.md", "盗刷处理", CARD)
    kb.upsert_document(doc, chunks)
    with kb.catalog.transaction() as conn:  # the catalog forgot it; the vector is still there
        kb.catalog.delete_document(conn, doc.doc_id)
    assert kb.stats()["vectors"] == 1
    assert kb.search("信用卡被盗刷怎么办") == []


def test_documents_report_status_and_source_state(kb):
    doc, chunks = make_doc("old.md", "旧规则", CARD, expiry_date="2001-01-01", content_hash="abc", pipeline_version="3")
    kb.upsert_document(doc, chunks)
    (info,) = kb.documents()
    assert info.status == "expired" and info.chunk_count == 1
    assert kb.source_state("old.md") == {"doc_id": doc.doc_id, "content_hash": "abc", "pipeline_version": "3"}
    assert kb.source_state("missing.md") is None
    assert kb.search("信用卡被盗刷") == []
    assert kb.search("信用卡被盗刷", filters=SearchFilters(include_inactive=True))


def test_a_second_writer_is_refused_with_the_holders_pid(kb, tmp_path):
    with pytest.raises(WriterLockedError, match=r"pid \d+.*server"):
        KnowledgeBase.open(Settings(data_dir=tmp_path / "data"), writer=True)
    reader = KnowledgeBase.open(Settings(data_dir=tmp_path / "data"))
    try:
        doc, chunks = make_doc("card.md", "盗刷处理", CARD)
        with pytest.raises(StoreError, match="read-only"):
            reader.upsert_document(doc, chunks)
    finally:
        reader.close()


def test_writer_lock_is_released_on_close(tmp_path):
    settings = Settings(data_dir=tmp_path / "d")
    KnowledgeBase.open(settings, writer=True).close()
    KnowledgeBase.open(settings, writer=True).close()


def test_opening_with_another_embedder_asks_for_reindex(kb, tmp_path):
    other = CountingEmbedder(make_embedder("e5"), name="other-model")
    with pytest.raises(ConfigError, match="citedesk reindex"):
        KnowledgeBase.open(Settings(data_dir=tmp_path / "data"), embedder=other)


def test_reindex_switches_collection_only_when_complete(kb, monkeypatch):
    docs = [make_doc("repay.md", "还款规则", REPAY), make_doc("card.md", "盗刷处理", CARD)]
    for doc, chunks in docs:
        kb.upsert_document(doc, chunks)
    old, old_embedder = kb.store.name, kb.embedder.name
    assert set(kb.sentence_vectors(REPAY + CARD, old_embedder)) == set(REPAY + CARD)
    broken = CountingEmbedder(make_embedder("e5"), fail_after=1, name="renamed-e5")
    monkeypatch.setattr("kb.knowledge.make_embedder", lambda spec: broken)
    with pytest.raises(RuntimeError):
        kb.reindex("e5", batch=1)
    assert kb.store.name == old and kb.catalog.get_state("collection") == old
    assert kb.search("信用卡被盗刷怎么办", k=1)[0].chunk.text == CARD[0]
    assert not [c for c in kb.client.list_collections() if "renamed-e5" in c.name]

    broken.fail_after = None
    result = kb.reindex("e5", batch=1)
    assert set(kb.sentence_vectors(REPAY + CARD)) == set(REPAY + CARD)  # stored for the new embedder too
    assert kb.sentence_vectors(REPAY + CARD, old_embedder) == {}  # the old embedder's are deleted
    assert result["chunks"] == 3 and result["collection"] != old
    assert kb.catalog.get_state("collection") == result["collection"]
    assert kb.catalog.get_state("embedder") == "renamed-e5"
    assert old not in [c.name for c in kb.client.list_collections()]
    assert kb.search("信用卡被盗刷怎么办", k=1)[0].chunk.text == CARD[0]


def test_concurrent_readers_while_one_writer_ingests(kb):
    doc, chunks = make_doc("card.md", "盗刷处理", CARD)
    kb.upsert_document(doc, chunks)
    errors, seen = [], []

    def reader():
        try:
            for _ in range(6):
                seen.append(len(kb.search("信用卡被盗刷怎么办", k=3)))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(3):
        d, c = make_doc(f"repay{i}.md", f"还款规则{i}", [f"第{i}版：" + t for t in REPAY])
        kb.upsert_document(d, c)
    for t in threads:
        t.join()
    assert not errors
    assert all(n >= 1 for n in seen)
    assert kb.stats()["chunks"] == 7


def test_search_vectors_are_normalised_similarities(kb):
    doc, chunks = make_doc("card.md", "盗刷处理", CARD)
    kb.upsert_document(doc, chunks)
    (hit,) = kb.search("信用卡被盗刷怎么办", k=3)
    assert 0.0 <= hit.score <= 1.0
    vec = kb.store.vectors([chunks[0].chunk_id])[chunks[0].chunk_id]
    assert np.isclose(np.linalg.norm(vec), 1.0, atol=1e-3)
    assert 0.5 < hit.signals["dense"] <= 1.0


def test_answer_sentences_are_embedded_at_ingest_so_a_reply_embeds_only_its_question(kb, counting):
    from kb.answer.pipeline import Answerer

    doc, chunks = make_doc("repay.md", "还款规则", REPAY)
    kb.upsert_document(doc, chunks)
    stored = kb.sentence_vectors(REPAY)
    assert set(stored) == set(REPAY)
    for text, fresh in zip(REPAY, counting.inner.embed_queries(REPAY), strict=True):
        assert float(stored[text] @ fresh) > 0.9999  # the same vector the composer would compute
    assert kb.sentence_vectors(REPAY, "another-model") == {}

    counting.queries.clear()
    question = "提前还款怎么计息？"
    answer = Answerer(kb, kb.settings).ask(question)
    assert "提前还款按实际借款天数计息" in answer.text
    assert counting.queries and all(texts == [question] for texts in counting.queries)

    # a changed document stores only its new sentences; the unchanged one is not embedded again
    counting.queries.clear()
    doc2, chunks2 = make_doc("repay.md", "还款规则", REPAY_V2)
    kb.upsert_document(doc2, chunks2)
    assert counting.queries == [[REPAY_V2[0]]]


def _stored_sentence_count(kb) -> int:
    return kb.catalog._query("SELECT COUNT(*) AS n FROM sentence_vectors")[0]["n"]


def test_removing_or_changing_a_document_deletes_the_vectors_of_sentences_nothing_quotes_any_more(kb):
    repay, repay_chunks = make_doc("repay.md", "还款规则", REPAY)
    shared, shared_chunks = make_doc("overdue.md", "逾期说明", [REPAY[1], CARD[0]])  # quotes REPAY[1] too
    kb.upsert_document(repay, repay_chunks)
    kb.upsert_document(shared, shared_chunks)
    assert set(kb.sentence_vectors(REPAY + CARD)) == set(REPAY + CARD)

    kb.remove_document(repay.doc_id)
    assert set(kb.sentence_vectors(REPAY + CARD)) == {REPAY[1], CARD[0]}  # still quoted by the other document

    v2, v2_chunks = make_doc("overdue.md", "逾期说明", [CARD[0]])  # the new version no longer quotes REPAY[1]
    kb.upsert_document(v2, v2_chunks)
    assert set(kb.sentence_vectors(REPAY + CARD)) == {CARD[0]}
    assert _stored_sentence_count(kb) == 1


def test_a_catalog_from_before_sentence_references_is_cleaned_on_the_next_write_open(tmp_path, counting):
    settings = Settings(data_dir=tmp_path / "data")
    with KnowledgeBase.open(settings, writer=True, embedder=counting) as kb:
        for doc, chunks in (make_doc("repay.md", "还款规则", REPAY), make_doc("card.md", "盗刷处理", CARD)):
            kb.upsert_document(doc, chunks)
        # what an older version left behind: no references, and the vectors of a removed document
        with kb.catalog.transaction(snapshot=False) as conn:
            conn.exec_driver_sql("DELETE FROM sentence_refs")
            conn.exec_driver_sql("DELETE FROM state WHERE key = 'sentence_refs'")
            conn.exec_driver_sql("DELETE FROM chunks WHERE doc_id = ?", (make_doc_id("card.md"),))
            conn.exec_driver_sql("DELETE FROM documents WHERE doc_id = ?", (make_doc_id("card.md"),))
    with KnowledgeBase.open(settings, embedder=counting) as reader:  # readers change nothing
        assert set(reader.sentence_vectors(REPAY + CARD)) == set(REPAY + CARD)
    with KnowledgeBase.open(settings, writer=True, embedder=counting) as kb:
        assert set(kb.sentence_vectors(REPAY + CARD)) == set(REPAY)
        kb.remove_document(make_doc_id("repay.md"))  # and the references it recorded are used
        assert _stored_sentence_count(kb) == 0
