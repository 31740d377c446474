"""Fitting the ranking and calibration weights: a listwise ranking loss, a logistic calibration, and
the two fits that combine them — the fusion (`fit_fusion`, kb.search.fusion reads its weights) and
the re-ranking (`fit_rerank`, kb.search.rerank)."""

from __future__ import annotations

from typing import Any

import numpy as np

from kb.search.fusion import fusion_features


def fit_listwise(pools: list[tuple[np.ndarray, np.ndarray]], lam: float, start: float = 0.0) -> np.ndarray:
    """Ranking weights w ≥ 0 by a listwise loss: a softmax over each pool's candidates (rows of
    features), its gold candidates (the boolean array) as the target, plus a ridge penalty lam·|w|²;
    scipy L-BFGS-B from w = start. Pools without a gold candidate teach nothing and are skipped.
    Shared by `fit_fusion` and `fit_rerank`."""
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


def fit_fusion(rows: list[dict[str, Any]], lam: float = 1e-3) -> tuple[float, ...]:
    """Fusion weights (bias first) from rows collected by evals.lecoqa.collect, in two steps (the
    same two as `fit_rerank`):
    1. ranking weights w ≥ 0 by a listwise loss (`fit_listwise`: softmax over each question's
       candidates, gold as the target), which orders candidates better than a pointwise fit;
    2. a logistic calibration p = σ(a + β·(w·x) + γ·dense), β, γ ≥ 0, on every candidate, so the
       score reads as a probability. The calibration also sees each question once more with its
       gold articles taken out of the candidates (a question the knowledge base cannot answer):
       relative features then look as good as ever, so only absolute evidence can tell the two
       apart, and the score learns to stay low when even the best match is weak."""
    feats = [(fusion_features(r["dense"], r["bm25"]), np.array([s in r["gold"] for s in r["sections"]])) for r in rows]
    w = fit_listwise(feats, lam)
    for r in rows:  # the unanswerable twin of each question
        keep = np.array([s not in r["gold"] for s in r["sections"]])
        if keep.sum() >= 2 and not keep.all():
            feats.append((fusion_features(r["dense"][keep], r["bm25"][keep]), np.zeros(int(keep.sum()), dtype=bool)))
    xs = np.vstack([np.column_stack([np.ones(len(x)), x @ w, x[:, 0]]) for x, _ in feats])
    ys = np.concatenate([y for _, y in feats]).astype(float)
    a, beta, gamma = fit_calibration(
        xs, ys, np.array([-10.0, 1.0, 5.0]), options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-8}
    )
    weights = beta * w
    weights[0] += gamma
    return (float(a), *[round(float(x), 4) for x in weights])


def fit_rerank(pools: list[tuple[np.ndarray, np.ndarray]], lam: float = 1e-3) -> tuple[float, ...]:
    """Weights (bias first) from (features, is-gold) pools, one per question, in two steps, as
    `fit_fusion` does for the fusion:
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
