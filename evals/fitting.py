"""Fitting the weights the engine reads: a listwise ranking loss, one logistic regression, and the
two fits that combine them — the fusion (`fit_fusion`, kb.search.fusion reads its weights) and the
re-ranking (`fit_rerank`, kb.search.rerank) — plus the evidence models' fits in
evals.bench_answers, which use the same `fit_logistic`."""

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


# Tolerances close enough to the optimum that a refit agrees with an exact (Newton) solution to
# well under 1e-3 in every weight; the callers that fit a calibration pass their own.
_EXACT = {"maxiter": 10_000, "ftol": 1e-15, "gtol": 1e-10}


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    l2: float = 1e-2,
    *,
    nonneg: bool = False,
    start: np.ndarray | None = None,
    options: dict[str, Any] | None = None,
) -> np.ndarray:
    """Weights (bias first) of the logistic regression P(y = 1) = σ(b + x·w): the ones that minimise
    the log-loss summed over the rows plus a ridge penalty l2/2·|w|² (the bias is not penalised).
    `nonneg` keeps every feature weight ≥ 0 (the bias stays free); `start` is where the search
    begins (bias first; zeros by default); `options` go to scipy.optimize.minimize (L-BFGS-B).

    Written on scipy's L-BFGS-B rather than scikit-learn's LogisticRegression: the calibrations of
    the fusion and the re-ranking need bounds on the weights, which scikit-learn cannot impose,
    and scipy is already a dependency of the engine (scikit-learn is not)."""
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or len(x) != len(y) or not len(y):
        raise ValueError(f"fit_logistic needs rows of features and one 0/1 target a row, got {x.shape} and {y.shape}")
    xb = np.column_stack([np.ones(len(x)), x])
    n = len(y)
    penalised = np.ones(xb.shape[1])
    penalised[0] = 0.0

    def loss(v):  # the mean log-loss (the sum's minimiser, on a scale L-BFGS-B's tolerances suit)
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ v, -50, 50)))
        total = -np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))
        ridge = penalised * v
        return total + l2 / (2 * n) * float(ridge @ ridge), xb.T @ (p - y) / n + l2 / n * ridge

    v0 = np.zeros(xb.shape[1]) if start is None else np.asarray(start, dtype=float)
    bounds = [(None, None)] + [(0, None) if nonneg else (None, None)] * x.shape[1]
    opts = _EXACT if options is None else options
    return minimize(loss, v0, jac=True, method="L-BFGS-B", bounds=bounds, options=opts).x


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
    xs = np.vstack([np.column_stack([x @ w, x[:, 0]]) for x, _ in feats])
    ys = np.concatenate([y for _, y in feats]).astype(float)
    a, beta, gamma = fit_logistic(
        xs, ys, l2=0.0, nonneg=True, start=np.array([-10.0, 1.0, 5.0]),
        options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-8},
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
    w[allx.std(axis=0) < 1e-9] = 0.0  # a feature that never varies (no keys anywhere) says nothing
    s = np.concatenate([x @ w for x, _ in zs])
    ys = np.concatenate([y for _, y in zs]).astype(float)
    # scipy's default tolerances (options={}), with which kb/search/rerank_weights.json was fitted
    a, beta = fit_logistic(s[:, None], ys, l2=0.0, nonneg=True, start=np.array([-2.0, 1.0]), options={})
    raw = beta * w / sd  # back from standardised to raw features
    bias = a - float(raw @ mu)
    return (round(float(bias), 4), *[round(float(v), 4) for v in raw])
