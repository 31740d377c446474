"""The ChunkStore contract, run against embedded Chroma and against a real Chroma server."""

from __future__ import annotations

import numpy as np
import pytest

from kb.errors import ConfigError, StoreError
from kb.index.vectorstore import ChromaStore, ChunkStore, VectorEntry, collection_name, make_client
from ui.demo_site import free_port


@pytest.fixture(params=["embedded", "server"])
def store(request, tmp_path, monkeypatch):
    if request.param == "embedded":
        client = make_client(tmp_path)
    else:
        url = request.getfixturevalue("chroma_server_url")  # tests/conftest.py
        monkeypatch.setenv("CITEDESK_CHROMA_URL", url)
        from kb.settings import Settings

        client = make_client(tmp_path, Settings().chroma_url)
    s = ChromaStore(client, collection_name("test-model", tmp_path.name[-6:].replace("_", "x")))
    yield s
    s.drop()


def unit(*xs: float) -> np.ndarray:
    v = np.zeros(8, dtype=np.float32)
    v[: len(xs)] = xs
    return v / np.linalg.norm(v)


def test_store_follows_the_protocol(store):
    assert isinstance(store, ChunkStore)
    assert 3 <= len(store.name) <= 512


def test_add_has_query_and_delete(store):
    store.add(
        [
            VectorEntry("c1", "c1", unit(1, 0)),
            VectorEntry("c2", "c2", unit(0, 1)),
            VectorEntry("c3", "c3", unit(1, 1)),
        ]
    )
    assert store.has(["c1", "c2", "zz"]) == {"c1", "c2"}
    hits = store.query_entries(unit(1, 0.1), 2)
    assert [c for _, c, _ in hits] == ["c1", "c3"]
    assert hits[0][2] > hits[1][2] and hits[0][2] == pytest.approx(float(unit(1, 0.1) @ unit(1, 0)), abs=1e-3)
    store.delete(["c1"])
    assert store.has(["c1"]) == set()
    assert [c for _, c, _ in store.query_entries(unit(1, 0), 5)] == ["c3", "c2"]
    assert store.count() == 2


def test_key_question_entries_name_their_chunk(store):
    store.add(
        [
            VectorEntry("faq", "faq", unit(0, 0, 1)),
            VectorEntry("faq#k0", "faq", unit(1, 0)),  # a key question close to the query
            VectorEntry("other", "other", unit(0.9, 0.5)),
        ]
    )
    hits = store.query_entries(unit(1, 0), 3)
    # the key entry is nearest and names its chunk; the chunk's own text is a separate, farther entry
    assert hits[0][:2] == ("faq#k0", "faq") and hits[0][2] == pytest.approx(1.0, abs=1e-3)
    assert [e for e, _, _ in hits] == ["faq#k0", "other", "faq"]
    store.delete(["faq"])  # deleting a chunk removes its key entries too
    assert store.count() == 1
    assert set(store.vectors(["faq", "faq#k0", "other"])) == {"other"}


def test_add_is_idempotent_and_vectors_round_trip(store):
    v = unit(0.3, 0.4, 0.5)
    store.add([VectorEntry("c1", "c1", v)])
    store.add([VectorEntry("c1", "c1", v)])
    assert store.count() == 1
    assert np.allclose(store.vectors(["c1"])["c1"], v, atol=1e-5)
    store.delete_entries(["c1"])
    assert store.count() == 0 and store.query_entries(v, 3) == []


def test_collection_names_are_valid_for_chroma():
    assert collection_name("st-all-minilm-l6-v2-1234abcd", "ab12") == "citedesk-st-all-minilm-l6-v2-1234abcd-ab12"
    long = collection_name("x" * 1000)
    assert 3 <= len(long) <= 512
    assert collection_name("模型/名字 !").startswith("citedesk-")


def test_bad_server_urls_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError):
        make_client(tmp_path, "ftp://nowhere")
    with pytest.raises(StoreError, match="cannot reach"):
        make_client(tmp_path, f"http://127.0.0.1:{free_port()}")


def test_query_returns_the_exact_nearest_chunks(tmp_path):
    # a search's candidates are the exact nearest chunks, so the same question gets the same
    # candidates (and fused scores, which are relative to them) in every process: with Chroma's
    # default search breadth the approximate graph search missed some, and which ones depended on
    # the graph each process built
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(4000, 64)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store = ChromaStore(make_client(tmp_path), collection_name("test-model", "exact"))
    store.add([VectorEntry(f"c{i}", f"c{i}", v) for i, v in enumerate(vecs)])
    for q in rng.normal(size=(5, 64)).astype(np.float32):
        q /= np.linalg.norm(q)
        exact = [f"c{i}" for i in np.argsort(-(vecs @ q))[:60]]
        assert [c for _, c, _ in store.query_entries(q, 60)] == exact
