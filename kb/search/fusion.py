"""Fusion of the dense and BM25 signals into one calibrated relevance per candidate.

A logistic model over per-candidate features (absolute dense similarity, its gap to the best and its
z-score among the candidates, BM25 relative to the best and absolute, and both ranks). Its output is
in [0, 1], rises with every kind of evidence, and reads as "probability this chunk answers the
question", which is what the answer layer thresholds to abstain. Plain RRF was measured to be barely
better than dense alone here.
"""

from __future__ import annotations

import numpy as np

# Logistic fusion over fusion_features(): bias, then dense, dense − best dense, dense z-score,
# BM25 / best BM25, log(1 + BM25), 1/(1 + dense rank), 1/(1 + BM25 rank). Every weight is ≥ 0, so
# the score rises with each kind of evidence. Fitted with evals.retrieval_bench.fit_fusion on the
# even-id half of LeCoQA with query expansion on (ranking weights by a listwise loss, then a
# logistic calibration that also sees the absolute dense similarity); numbers in docs/benchmarks.md.
FUSION_WEIGHTS = (-7.2045, 0.1525, 0.1525, 1.1914, 1.0938, 0.4647, 0.3695, 0.7917)


# -- fusion ----------------------------------------------------------------------------------


def _ranks(x: np.ndarray) -> np.ndarray:
    r = np.empty(len(x))
    r[np.argsort(-x, kind="stable")] = np.arange(len(x))
    return r


def fusion_features(dense: np.ndarray, bm25: np.ndarray) -> np.ndarray:
    """Per-candidate features (rows) for the logistic fusion; see FUSION_WEIGHTS."""
    d = np.asarray(dense, dtype=np.float64)
    b = np.maximum(np.asarray(bm25, dtype=np.float64), 0.0)
    if len(d) == 0:
        return np.zeros((0, 7))
    top_b = b.max()
    return np.column_stack(
        [
            d,
            d - d.max(),
            (d - d.mean()) / (d.std() + 1e-6),
            b / top_b if top_b > 0 else np.zeros_like(b),
            np.log1p(b),
            1.0 / (1.0 + _ranks(d)),
            np.where(b > 0, 1.0 / (1.0 + _ranks(b)), 0.0),
        ]
    )


def fuse(dense: np.ndarray, bm25: np.ndarray, weights: tuple[float, ...] = FUSION_WEIGHTS) -> np.ndarray:
    """Calibrated relevance in [0, 1] for each candidate."""
    if len(dense) == 0:
        return np.zeros(0)
    x = fusion_features(dense, bm25)
    z = weights[0] + x @ np.asarray(weights[1:], dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-z))
