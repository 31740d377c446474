"""The catalog: source of truth for documents and chunks, one transaction per write — on a SQLite
file (the embedded default) and on PostgreSQL (a shared deployment's catalog)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError

from kb.index.catalog import Catalog
from kb.types import Chunk, Document


def doc_with(n: int, doc_id: str = "d1", **meta) -> tuple[Document, list[Chunk]]:
    doc = Document(doc_id, "还款规则", "procedure", "repay.md", "全文", {"source_key": "repay.md", **meta})
    chunks = [
        Chunk(f"{doc_id}-c{i}", doc_id, f"第{i}段", section=f"第{i}条", span=(i * 10, i * 10 + 5), meta={"keys": ["问"]})
        for i in range(n)
    ]
    return doc, chunks


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def location(request, tmp_path):
    """Where a catalog lives: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return tmp_path / "catalog.sqlite"
    return request.getfixturevalue("postgres_schema_url")()


@pytest.fixture()
def catalog(location):
    c = Catalog(location)
    yield c
    c.close()


def write(catalog, doc, chunks, fp="f"):
    with catalog.transaction() as conn:
        catalog.replace_document(conn, doc, chunks, ["tok"] * len(chunks), fp)


def test_documents_and_chunks_round_trip(catalog):
    doc, chunks = doc_with(3, content_hash="h1", pipeline_version=2)
    write(catalog, doc, chunks)
    assert catalog.get_document("d1") == doc
    got = catalog.chunks_of("d1")
    assert [c.chunk_id for c in got] == ["d1-c0", "d1-c1", "d1-c2"]
    assert got[1].span == (10, 15) and got[1].meta == {"keys": ["问"]} and got[1].section == "第1条"
    assert catalog.source_state("repay.md") == {"doc_id": "d1", "content_hash": "h1", "pipeline_version": "2"}
    assert catalog.counts() == {"documents": 1, "chunks": 3}


def test_snapshot_changes_with_every_committed_write_only(catalog):
    first = catalog.snapshot_id
    doc, chunks = doc_with(2)
    write(catalog, doc, chunks)
    second = catalog.snapshot_id
    assert second != first
    with pytest.raises(RuntimeError), catalog.transaction() as conn:
        catalog.delete_document(conn, "d1")
        raise RuntimeError("crash mid-write")
    assert catalog.snapshot_id == second
    assert catalog.counts() == {"documents": 1, "chunks": 2}  # rolled back


def test_replacing_a_document_replaces_all_its_chunks(catalog):
    doc, chunks = doc_with(3)
    write(catalog, doc, chunks)
    write(catalog, doc, chunks[:1], fp="g")
    assert catalog.chunk_ids_of("d1") == ["d1-c0"]
    assert catalog.fingerprint("d1") == "g"


def test_a_chunk_id_cannot_belong_to_two_documents(catalog):
    doc, chunks = doc_with(1)
    write(catalog, doc, chunks)
    other = Document("d2", "别的", "faq", "x.md", "", {})
    with pytest.raises(IntegrityError):
        write(catalog, other, chunks)
    assert catalog.get_document("d2") is None


def test_wal_mode_on_sqlite(tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite")
    try:
        with catalog.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        catalog.close()


def test_a_second_catalog_on_the_same_store_sees_commits(location):
    a = Catalog(location)
    b = Catalog(location)
    try:
        doc, chunks = doc_with(2)
        write(a, doc, chunks)
        assert b.snapshot_id == a.snapshot_id
        assert set(b.get_chunks(["d1-c0", "d1-c1", "nope"])) == {"d1-c0", "d1-c1"}
    finally:
        a.close()
        b.close()


def test_state_and_iteration(catalog):
    catalog.set_state({"collection": "citedesk-e5-small-abc"})
    assert catalog.get_state("collection") == "citedesk-e5-small-abc"
    for i in range(3):
        doc, chunks = doc_with(4, doc_id=f"d{i}")
        write(catalog, doc, chunks)
    batches = list(catalog.iter_chunks(batch=5))
    assert [len(b) for b in batches] == [5, 5, 2]
    with catalog.lexical_rows(batch=5) as (snap, rows):
        rows = list(rows)
    assert snap == catalog.snapshot_id and len(rows) == 12 and rows[0][2] == "tok"


def test_sentence_vectors_round_trip_and_go_with_the_last_chunk_quoting_them(catalog):
    doc, chunks = doc_with(2)
    vec = np.arange(4, dtype=np.float32)
    with catalog.transaction() as conn:
        catalog.replace_document(conn, doc, chunks, ["tok"] * 2, "f", [["应当还款。"], ["应当还款。"]])
        catalog.add_sentence_vectors(conn, "e5", {"应当还款。": vec})
    assert np.array_equal(catalog.sentence_vectors("e5", ["应当还款。", "别的"])["应当还款。"], vec)
    with catalog.transaction() as conn:
        catalog.delete_document(conn, "d1")
    assert catalog.sentence_vectors("e5", ["应当还款。"]) == {}


def test_init_state_keeps_the_first_value_of_processes_starting_together(location):
    catalogs = [Catalog(location) for _ in range(4)]
    got: list[dict] = []
    threads = [
        threading.Thread(target=lambda c=c, i=i: got.append(c.init_state({"collection": f"col-{i}"})))
        for i, c in enumerate(catalogs)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len({g["collection"] for g in got}) == 1
        assert catalogs[0].get_state("collection") == got[0]["collection"]
    finally:
        for c in catalogs:
            c.close()


def test_a_commit_tells_its_listeners_the_new_snapshot(catalog):
    heard: list[str] = []
    catalog.on_commit.append(heard.append)
    doc, chunks = doc_with(1)
    write(catalog, doc, chunks)
    with catalog.transaction(snapshot=False) as conn:
        catalog.add_sentence_vectors(conn, "e5", {"句子。": np.zeros(2, dtype=np.float32)})
    assert heard == [catalog.snapshot_id]


def test_an_unreachable_postgres_catalog_is_a_clear_unavailable_error():
    from kb.errors import ServiceUnavailableError

    with pytest.raises(ServiceUnavailableError, match="127.0.0.1:1/test.*unreachable"):
        Catalog("postgresql+psycopg://postgres@127.0.0.1:1/test")  # nothing listens on port 1
