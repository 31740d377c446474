"""Embedders: the bundled e5, the sentence-transformers loading path, the spec parser."""

from __future__ import annotations

import numpy as np
import pytest

from kb.errors import ConfigError
from kb.index.embedders import E5Embedder, Embedder, SentenceTransformerEmbedder, make_embedder


def test_e5_gives_normalised_vectors_that_rank_paraphrases_first():
    e5 = make_embedder("e5")
    assert isinstance(e5, E5Embedder) and isinstance(e5, Embedder)
    assert e5.dim == 384 and e5.name == "e5-small"
    passages = e5.embed_passages(["借款人应当按照约定的期限返还借款。", "信用卡被盗刷时应当及时挂失。"])
    query = e5.embed_queries(["借的钱什么时候要还？"])
    assert passages.shape == (2, 384) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    sims = passages @ query[0]
    assert sims[0] > sims[1]
    assert e5.embed_passages([]).shape == (0, 384)


def test_queries_and_passages_are_embedded_differently():
    e5 = make_embedder("e5")
    text = "提前还款要收手续费吗"
    assert not np.allclose(e5.embed_queries([text])[0], e5.embed_passages([text])[0])


def test_models_are_built_once_per_process():
    assert make_embedder("e5") is make_embedder("e5")


@pytest.mark.slow
def test_sentence_transformers_loads_a_local_model_offline(monkeypatch, minilm_dir):  # loads torch
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = minilm_dir
    emb = make_embedder(f"st:{path}")
    assert isinstance(emb, SentenceTransformerEmbedder)
    assert emb.dim == 384 and emb.name.startswith("st-model-")
    vecs = emb.embed_passages(["How do I repay my loan early?", "My card was stolen.", "Early loan repayment fees"])
    q = emb.embed_queries(["repay a loan before the due date"])[0]
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    sims = vecs @ q
    assert sims[0] > sims[1] and sims[2] > sims[1]


@pytest.mark.parametrize("spec", ["", "bert", "st:", "openai:text-embedding-3"])
def test_unknown_specs_are_config_errors(spec):
    with pytest.raises(ConfigError, match="embedder"):
        make_embedder(spec)


@pytest.mark.slow
def test_a_missing_local_model_is_a_config_error(tmp_path, monkeypatch):  # loads torch
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="cannot load"):
        make_embedder(f"st:{tmp_path / 'no-such-model'}")


def test_the_vector_cache_drops_the_least_recently_used_text():
    from kb.index.embedders import VectorCache

    computed = []

    def compute(texts):
        computed.extend(texts)
        return [np.full(2, float(len(t)), dtype=np.float32) for t in texts]

    cache = VectorCache(2)
    cache.get(["逾期", "提前还款"], compute)
    cache.get(["逾期"], compute)  # read: now the most recently used
    cache.get(["征信异议"], compute)  # full: 提前还款 is dropped, not 逾期
    computed.clear()
    vectors = cache.get(["逾期", "提前还款", "逾期"], compute)
    assert computed == ["提前还款"]
    assert [float(v[0]) for v in vectors] == [2.0, 4.0, 2.0]


def test_the_st_embedder_without_its_extra_says_what_to_install(monkeypatch, tmp_path):
    import sys

    from kb.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'citedesk\[st\]'"):
        SentenceTransformerEmbedder(str(tmp_path))
