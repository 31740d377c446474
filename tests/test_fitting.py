"""The fits behind the weights the engine reads (evals/fitting.py): the fusion and the re-ranking."""

from __future__ import annotations

import numpy as np
import pytest

from evals.fitting import fit_fusion, fit_rerank
from evals.lecoqa import score_rows, split
from tests.test_rerank import synthetic_pools


def _rows(n=40, seed=3):
    """Synthetic candidates where gold has higher dense and BM25 on average (but noisy)."""
    rng = np.random.default_rng(seed)
    rows = []
    for qid in range(n):
        m = 30
        gold_i = rng.integers(m)
        dense = rng.normal(0.85, 0.02, m)
        bm25 = np.maximum(rng.normal(1.0, 1.0, m), 0)
        dense[gold_i] += 0.03
        bm25[gold_i] += 1.5
        rows.append({"qid": qid, "gold": {f"s{gold_i}"}, "sections": [f"s{i}" for i in range(m)],
                     "dense": dense, "bm25": bm25})
    return rows


def test_fitted_fusion_beats_each_signal_and_keeps_weights_non_negative():
    rows = _rows()
    fit, test = split(rows)
    weights = fit_fusion(fit)
    assert all(w >= 0 for w in weights[1:])
    fused = score_rows(test, "fused", weights)["mrr@10"]
    assert fused >= score_rows(test, "dense")["mrr@10"]
    assert fused >= score_rows(test, "bm25")["mrr@10"]


# Weights these fits give on fixed synthetic data; a change to the fits that would move refitted
# fusion or re-ranking weights shows here first.
FUSION_ON_ROWS = (-18.7557, 10.129, 0.2904, 1.3909, 0.4225, 4.5232, 0.0, 0.0)
RERANK_ON_POOLS = (-226.0512, 2.4588, 251.3368, 2.9221, 0.0)


def test_the_fusion_and_rerank_fits_give_the_weights_they_are_known_to_give():
    assert fit_fusion(split(_rows())[0]) == pytest.approx(FUSION_ON_ROWS, abs=1e-3)
    assert fit_rerank(synthetic_pools()) == pytest.approx(RERANK_ON_POOLS, abs=1e-3)
