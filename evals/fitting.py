"""Fitting the ranking and calibration weights: a listwise ranking loss, a logistic calibration, and
the re-ranking fit that combines them (kb.search.rerank reads the weights these produce)."""

from __future__ import annotations

import numpy as np


def fit_listwise(pools: list[tuple[np.ndarray, np.ndarray]], lam: float, start: float = 0.0) -> np.ndarray:
    """Ranking weights w ≥ 0 by a listwise loss: a softmax over each pool's candidates (rows of
    features), its gold candidates (the boolean array) as the target, plus a ridge penalty lam·|w|²;
    scipy L-BFGS-B from w = start. Pools without a gold candidate teach nothing and are skipped.
    Shared by this module's fit and evals.retrieval_bench.fit_fusion."""
    from scipy.optimize import minimize

    pos = [(x, y / y.sum()) for x, y in ((x, y.astype(float)) for x, y in pools) if y.any()]
    dim = pools[0][0].shape[1]

    def loss(w):
        total, grad = 0.0, np.zeros(dim)
        for x, t in pos:
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            total -= float(t @ np.log(p + 1e-12))
            grad -= x.T @ (t - p)
        return total / len(pos) + lam * w @ w, grad / len(pos) + 2 * lam * w

    return minimize(loss, np.full(dim, start), jac=True, method="L-BFGS-B", bounds=[(0, None)] * dim).x


def fit_calibration(xs: np.ndarray, ys: np.ndarray, start: np.ndarray, options: dict | None = None) -> np.ndarray:
    """v of the logistic p = σ(xs·v) by mean log-loss (scipy L-BFGS-B from `start`); the first
    column of xs is the constant, whose coefficient is free, every other coefficient is ≥ 0."""
    from scipy.optimize import minimize

    def loss(v):
        p = 1.0 / (1.0 + np.exp(-np.clip(xs @ v, -50, 50)))
        total = -np.mean(ys * np.log(p + 1e-12) + (1 - ys) * np.log(1 - p + 1e-12))
        return total, xs.T @ (p - ys) / len(ys)

    bounds = [(None, None)] + [(0, None)] * (xs.shape[1] - 1)
    return minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds, options=options).x


def fit_rerank(pools: list[tuple[np.ndarray, np.ndarray]], lam: float = 1e-3) -> tuple[float, ...]:
    """Weights (bias first) from (features, is-gold) pools, one per question, in two steps, as
    evals.retrieval_bench.fit_fusion does for the fusion:
    1. ranking weights w ≥ 0 by `fit_listwise`, on features standardised over all pools so that
       one ridge penalty suits them all;
    2. a logistic calibration p = σ(a + β·(w·x)), β ≥ 0, on every candidate of every pool."""
    allx = np.vstack([x for x, _ in pools])
    mu, sd = allx.mean(axis=0), allx.std(axis=0) + 1e-9
    zs = [((x - mu) / sd, y) for x, y in pools]
    w = fit_listwise(zs, lam, start=0.1)
    s = np.concatenate([x @ w for x, _ in zs])
    ys = np.concatenate([y for _, y in zs]).astype(float)
    a, beta = fit_calibration(np.column_stack([np.ones(len(s)), s]), ys, np.array([-2.0, 1.0]))
    raw = beta * w / sd  # back from standardised to raw features
    bias = a - float(raw @ mu)
    return (round(float(bias), 4), *[round(float(v), 4) for v in raw])
