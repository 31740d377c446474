"""The fits behind the weights the engine reads (evals/fitting.py): one logistic regression, the
fusion fit and the re-ranking fit built on it."""

from __future__ import annotations

import numpy as np
import pytest

from evals.fitting import fit_fusion, fit_logistic, fit_rerank
from evals.lecoqa import score_rows, split
from tests.test_rerank import synthetic_pools


def _logistic_data(weights, n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, (n, len(weights) - 1))
    p = 1 / (1 + np.exp(-(weights[0] + x @ weights[1:])))
    return x, (rng.uniform(size=n) < p).astype(float)


def test_a_fit_recovers_the_weights_the_data_was_drawn_with():
    true = np.array([-0.5, 2.0, -1.0, 0.5])
    x, y = _logistic_data(true)
    w = fit_logistic(x, y)
    assert w.shape == (4,)
    assert np.abs(w - true).max() < 0.1


def test_non_negative_weights_stay_at_zero_where_the_data_pulls_below():
    true = np.array([0.3, 1.5, -1.0])
    x, y = _logistic_data(true, seed=1)
    w = fit_logistic(x, y, nonneg=True)
    assert w[2] == 0.0  # the feature the data weighs negatively is held at 0
    assert w[:2] == pytest.approx(fit_logistic(x[:, :1], y), abs=1e-4)  # as if it were left out
    assert fit_logistic(x, y)[2] < -0.8  # without the bound it is found too


def test_the_ridge_shrinks_the_feature_weights_but_not_the_bias():
    x, y = _logistic_data(np.array([1.0, 2.0]), n=2_000, seed=2)
    loose, tight = fit_logistic(x, y, l2=1e-2), fit_logistic(x, y, l2=1e6)
    assert abs(tight[1]) < 0.01 < abs(loose[1])
    assert tight[0] == pytest.approx(np.log(y.mean() / (1 - y.mean())), abs=1e-2)  # the base rate's log-odds


def _newton(x, y, l2):
    """The exact minimiser of the same penalised log-loss, by Newton's method (a reference)."""
    xb = np.column_stack([np.ones(len(x)), x])
    w, reg = np.zeros(xb.shape[1]), l2 * np.eye(xb.shape[1])
    reg[0, 0] = 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(xb @ w)))
        step = np.linalg.solve(xb.T @ (xb * (p * (1 - p))[:, None]) + reg, xb.T @ (p - y) + reg @ w)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


def test_the_fit_agrees_with_the_exact_solution_on_nearly_separable_evidence():
    """Evidence features like the answer models' (one carries the signal, weights far from 0)."""
    rng = np.random.default_rng(1)
    answerable = np.arange(160) % 4 > 0
    evidence = rng.normal(np.where(answerable, 0.8, 0.3), 0.15)
    x = np.column_stack([rng.uniform(0, 1, 160), evidence, rng.uniform(0, 1, (160, 4))])
    for y in (answerable.astype(float), (answerable & (evidence > 0.6)).astype(float)):
        exact = _newton(x, y, 1e-2)
        assert np.abs(exact).max() > 10
        assert np.abs(fit_logistic(x, y, l2=1e-2) - exact).max() < 1e-3


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="one 0/1 target a row"):
        fit_logistic(np.zeros((3, 2)), np.zeros(2))


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
RERANK_ON_POOLS = (-226.0578, 2.4506, 251.3886, 2.8692, 0.0, 0.0, 0.0)  # no keys in these pools: the key features get 0


def test_the_fusion_and_rerank_fits_give_the_weights_they_are_known_to_give():
    assert fit_fusion(split(_rows())[0]) == pytest.approx(FUSION_ON_ROWS, abs=1e-3)
    assert fit_rerank(synthetic_pools()) == pytest.approx(RERANK_ON_POOLS, abs=1e-3)
