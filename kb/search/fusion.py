"""Fusion of the dense and BM25 signals into one calibrated relevance per candidate.

A logistic model over per-candidate features (absolute dense similarity, its gap to the best and its
z-score among the candidates, BM25 relative to the best and absolute, and both ranks). Its output is
in [0, 1], rises with every kind of evidence, and reads as "probability this chunk answers the
question", which is what the answer layer thresholds to abstain. Plain RRF was measured to be barely
better than dense alone here.
"""

from __future__ import annotations

import numpy as np

from kb.search.rerank import log_odds
from kb.search.weights import load_key_weights, load_weights

FUSION_FEATURES = (
    "dense",  # the e5 similarity of the question to the chunk (its text or a question key)
    "dense_gap_to_best",  # dense − the best candidate's dense
    "dense_z",  # the dense similarity's z-score among the candidates
    "bm25_relative",  # BM25 / the best candidate's BM25
    "log1p_bm25",  # log(1 + BM25)
    "dense_rank_inverse",  # 1 / (1 + rank by dense)
    "bm25_rank_inverse",  # 1 / (1 + rank by BM25; 0 without a keyword match)
)
# Every weight is ≥ 0, so the score rises with each kind of evidence; fitted by
# evals.fitting.fit_fusion, kept with its metadata in fusion_weights.json.
FUSION_WEIGHTS = load_weights("fusion", FUSION_FEATURES)
# A question key (a customer's phrasing of a chunk: an FAQ's similar question, a graded question, a
# bundle's keys) is evidence about its chunk, not a rival text: the fusion reads only the chunk's
# own text, and a key adds `weight` log-odds per unit of similarity above `floor`. The floor is the
# similarity a key reaches for questions about other documents (fusion_weights.json says how it was
# measured), so a keyed document does not win questions about unkeyed ones by its lay wording.
KEY_WEIGHTS = load_key_weights()


# -- fusion ----------------------------------------------------------------------------------


def _ranks(x: np.ndarray) -> np.ndarray:
    r = np.empty(len(x))
    r[np.argsort(-x, kind="stable")] = np.arange(len(x))
    return r


def fusion_features(dense: np.ndarray, bm25: np.ndarray) -> np.ndarray:
    """Per-candidate features (rows) for the logistic fusion, in FUSION_FEATURES order."""
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


def key_evidence(fused: np.ndarray, key: np.ndarray, key_weights: tuple[float, float] = KEY_WEIGHTS) -> np.ndarray:
    """The fused relevance raised by each chunk's best question key above the floor (−1: no key)."""
    floor, weight = key_weights
    excess = np.maximum(np.asarray(key, dtype=np.float64) - floor, 0.0)
    if len(fused) == 0 or weight <= 0 or not excess.any():
        return fused
    z = log_odds(fused) + weight * excess
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
