"""Second-stage ranking (kb/search/rerank.py): features, fitting, and what a search returns with it."""

from __future__ import annotations

import numpy as np
import pytest

from evals.fitting import fit_rerank
from kb.search.rerank import RERANK_WEIGHTS, SentenceScorer, rerank, rerank_features
from kb.types import Chunk


def synthetic_pools(n=200, size=12, seed=0):
    """Pools whose gold is told by the sentence similarity, while the fused score prefers a
    neighbour half of the time (as a neighbouring article of the same statute does)."""
    rng = np.random.default_rng(seed)
    out = []
    for q in range(n):
        fused = np.sort(rng.uniform(0.01, 0.6, size))[::-1]
        sentence = rng.uniform(0.78, 0.86, size)
        text = rng.uniform(0.75, 0.85, size)
        bm25 = rng.uniform(0, 20, size)
        g = 1 if q % 2 else 0  # gold second by fused score in half of the pools
        sentence[g] = 0.93
        gold = np.zeros(size, dtype=bool)
        gold[g] = True
        out.append((rerank_features(fused, sentence, text, bm25), gold))
    return out


def test_fitted_weights_rank_by_the_signal_that_finds_the_gold():
    pools = synthetic_pools()
    w = fit_rerank(pools)
    assert all(v >= 0 for v in w[1:])
    firsts = [bool(gold[np.argmax(rerank(x, w))]) for x, gold in synthetic_pools(seed=1)]
    by_fused = [bool(gold[np.argmax(x[:, 0])]) for x, gold in synthetic_pools(seed=1)]
    assert sum(by_fused) / len(by_fused) == pytest.approx(0.5)
    assert sum(firsts) / len(firsts) > 0.95


def test_fitted_scores_are_calibrated_probabilities():
    pools = synthetic_pools()
    w = fit_rerank(pools)
    scores = np.concatenate([rerank(x, w) for x, _ in pools])
    gold = np.concatenate([g for _, g in pools])
    assert 0.0 <= scores.min() and scores.max() <= 1.0
    # on the pools it was fitted on, the mean predicted probability matches the share of gold
    assert scores.mean() == pytest.approx(gold.mean(), abs=0.01)
    assert scores[gold].mean() > 0.8 > 0.1 > scores[~gold].mean()


def test_shipped_weights_rise_with_every_signal():
    base = rerank_features([0.3], [0.85], [0.82], [5.0])
    s0 = rerank(base, RERANK_WEIGHTS)[0]
    for col, delta in ((0, 1.0), (1, 0.05), (2, 0.05), (3, 1.0), (4, 0.05), (5, 0.05)):
        more = base.copy()
        more[0, col] += delta
        assert rerank(more, RERANK_WEIGHTS)[0] >= s0


class FakeSim:
    """Vectors from a lookup table: what SentenceScorer asks of kb.index.similarity.SentenceSimilarity."""

    def __init__(self, table):
        self.table = table

    def embed(self, texts):
        return np.vstack([self.table[t] for t in texts])


def test_sentence_scorer_takes_each_chunks_best_quotable_sentence():
    v = {
        "第一句讲的是提前还款的条件。": np.array([1.0, 0.0]),
        "第二句讲的是逾期罚息的计算。": np.array([0.6, 0.8]),
        "第三句讲的是其他无关事项。": np.array([0.0, 1.0]),
    }
    scorer = SentenceScorer(FakeSim(v))
    a = Chunk("a", "d", "第一句讲的是提前还款的条件。第三句讲的是其他无关事项。")
    b = Chunk("b", "d", "第二句讲的是逾期罚息的计算。")
    heading = Chunk("c", "d", "# 标题")  # no sentence a reply could quote
    best = scorer.best(np.array([0.8, 0.6]), [a, b, heading])
    assert best[0] == pytest.approx(0.8)  # its first sentence, not the second
    assert best[1] == pytest.approx(0.96)
    assert best[2] == pytest.approx(0.8)  # the lowest of the others: neither helped nor sunk


def test_fit_report_scores_each_set_with_weights_that_never_saw_it():
    from evals.fit_rerank import report

    rows = []
    for name, seed in (("a", 0), ("b", 1), ("c", 2)):
        for i, (x, gold) in enumerate(synthetic_pools(n=60, seed=seed)):
            rows.append({"set": name, "id": f"{name}-{i}", "features": x.tolist(), "gold": gold.tolist()})
    out = report(rows)
    for name in ("a", "b", "c"):
        entry = out["sets"][name]
        assert entry["fused"]["hit@1"] == pytest.approx(0.5)  # the gold is second by fused score half the time
        assert entry["set_left_out"]["hit@1"] > 0.95 and entry["set_left_out"]["in_pool"] == 1.0
    assert out["sets"]["all"]["fused"]["n"] == 180 and len(out["fitted_weights"]) == 7
    assert out["fitted_weights"][5:] == [0.0, 0.0]  # no keys in these pools: the key features say nothing
