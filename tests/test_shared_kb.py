"""A shared knowledge base: the catalog on PostgreSQL, the vectors on a Chroma server; one writer
(a PostgreSQL advisory lock), readers that follow the catalog's snapshot without a restart."""

from __future__ import annotations

import time

import pytest

from kb.errors import WriterLockedError
from kb.knowledge import KnowledgeBase
from kb.types import Chunk, Document, make_chunk_id, make_doc_id

pytestmark = pytest.mark.shared

REPAY = ["借款人可以在应用内申请提前还款，提前还款按实际借款天数计息。", "逾期还款将产生罚息，并可能影响个人征信记录。"]
CARD = ["信用卡被盗刷时，请立即致电客服冻结卡片，并在二十四小时内报警。"]


def make_doc(source: str, title: str, texts: list[str]) -> tuple[Document, list[Chunk]]:
    doc_id = make_doc_id(source)
    doc = Document(doc_id, title, "procedure", source, "\n".join(texts), {})
    return doc, [Chunk(make_chunk_id(doc_id, t, f"第{i}条"), doc_id, t, section=f"第{i}条") for i, t in enumerate(texts)]


def top_title(kb: KnowledgeBase, question: str) -> str | None:
    hits = kb.search(question, k=1)
    return hits[0].chunk.meta.get("title") if hits else None


@pytest.fixture()
def writer(shared_settings):
    kb = KnowledgeBase.open(shared_settings("writer"), writer=True)
    yield kb
    kb.close()


def test_a_reader_in_another_process_serves_its_snapshot_until_it_refreshes(shared_settings, writer):
    writer.upsert_document(*make_doc("repay.md", "还款规则", REPAY))
    reader = KnowledgeBase.open(shared_settings("reader"))
    try:
        reader.lexical.following = True  # as `follow` sets it, without the thread: refresh by hand
        assert top_title(reader, "提前还款怎么计息") == "还款规则"
        first = reader.snapshot_id
        assert first == writer.catalog.snapshot_id

        writer.upsert_document(*make_doc("card.md", "盗刷处理", CARD))
        assert reader.snapshot_id == first  # still serving the snapshot it loaded
        assert reader.refresh() == writer.catalog.snapshot_id
        assert reader.snapshot_id != first
        assert top_title(reader, "信用卡被盗刷怎么办") == "盗刷处理"
        assert reader.refresh() is None  # nothing new

        writer.remove_document(make_doc_id("card.md"))
        reader.refresh()
        assert all(h.chunk.meta.get("title") != "盗刷处理" for h in reader.search("信用卡被盗刷怎么办", k=3))
    finally:
        reader.close()


def test_a_following_reader_answers_a_change_within_seconds_without_a_restart(shared_settings, writer):
    reader = KnowledgeBase.open(shared_settings("reader"))
    try:
        follower = reader.follow(interval=0.2)
        assert reader.search("信用卡被盗刷怎么办") == []
        writer.upsert_document(*make_doc("card.md", "盗刷处理", CARD))
        deadline = time.monotonic() + 30  # generous: the follower polls every 0.2 s
        while reader.snapshot_id != writer.catalog.snapshot_id and time.monotonic() < deadline:
            time.sleep(0.1)
        assert reader.snapshot_id == writer.catalog.snapshot_id and follower.last_error is None
        assert top_title(reader, "信用卡被盗刷怎么办") == "盗刷处理"
    finally:
        reader.close()


def test_only_one_writer_on_any_host_and_the_refusal_names_it(shared_settings, writer):
    with pytest.raises(WriterLockedError, match="citedesk writer pid"):
        KnowledgeBase.open(shared_settings("other-host"), writer=True)
    writer.close()  # a writer that stops (or dies: its connection ends) frees the lock
    second = KnowledgeBase.open(shared_settings("other-host"), writer=True, wait=10)
    try:
        assert second.writer
    finally:
        second.close()


def test_readers_and_writer_share_one_collection_and_catalog(shared_settings, writer):
    writer.upsert_document(*make_doc("repay.md", "还款规则", REPAY))
    reader = KnowledgeBase.open(shared_settings("reader"))
    try:
        assert reader.store.name == writer.store.name
        assert reader.stats()["documents"] == 1 and reader.stats()["vectors"] == 2
        assert not (reader.data_dir / "lexical").exists()  # a reader keeps its index in memory
    finally:
        reader.close()


def test_an_embedded_knowledge_base_moves_into_a_shared_deployment_without_embedding_again(tmp_path, shared_settings):
    from kb.index.catalog import Catalog
    from kb.index.transfer import copy_knowledge_base
    from kb.index.vectorstore import make_client
    from kb.settings import Settings

    embedded = Settings(data_dir=tmp_path / "embedded")
    with KnowledgeBase.open(embedded, writer=True) as kb:
        kb.upsert_document(*make_doc("repay.md", "还款规则", REPAY))
        kb.upsert_document(*make_doc("card.md", "盗刷处理", CARD))
        before = kb.stats()
    settings = shared_settings("reader")
    src, dst = Catalog(embedded.catalog_location), Catalog(settings.catalog_location)
    try:
        done = copy_knowledge_base(src, make_client(embedded.data_dir), dst,
                                   make_client(settings.data_dir, settings.chroma_url), progress=lambda _: None)
        assert done["vectors"] == before["vectors"] and done["chunks"] == before["chunks"]
        with pytest.raises(Exception, match="already holds"):
            copy_knowledge_base(src, make_client(embedded.data_dir), dst,
                                make_client(settings.data_dir, settings.chroma_url), progress=lambda _: None)
    finally:
        src.close()
        dst.close()
    with KnowledgeBase.open(settings) as reader:
        stats = reader.stats()
        assert (stats["documents"], stats["chunks"], stats["vectors"]) == (2, before["chunks"], before["vectors"])
        assert stats["snapshot_id"] == before["snapshot_id"]
        assert top_title(reader, "信用卡被盗刷怎么办") == "盗刷处理"
        assert set(reader.sentence_vectors(REPAY + CARD)) == set(REPAY + CARD)  # nothing to embed again


def test_serve_with_several_workers_needs_the_shared_deployment(tmp_path):
    from click.testing import CliRunner

    from api.cli import main

    result = CliRunner().invoke(main, ["serve", "--workers", "2", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2 and "--workers needs a shared deployment" in result.output


def test_the_shared_deployment_refuses_to_start_without_what_every_process_must_share(tmp_path):
    from pydantic import ValidationError

    from kb.settings import Settings

    base = {"data_dir": tmp_path, "redis_url": "redis://127.0.0.1:6379/0"}
    with pytest.raises(ValidationError, match="CITEDESK_DATABASE_URL .PostgreSQL.*CITEDESK_CHROMA_URL.*RECORDS_KEY"):
        Settings(**base)
    with pytest.raises(ValidationError, match="RECORDS_KEY"):  # each process would make a key of its own
        Settings(**base, database_url="postgresql+psycopg://u@h/db", chroma_url="http://h:8000")
    assert Settings(**base, database_url="postgresql+psycopg://u@h/db", chroma_url="http://h:8000",
                    records_key="k").shared
    assert not Settings(data_dir=tmp_path, database_url="postgresql+psycopg://u@h/db").shared  # embedded, as before
