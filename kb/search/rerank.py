"""Second-stage ranking: the pool of best fused candidates re-scored with what the fusion cannot see.

The fusion (kb.search.fusion.fuse) ranks a chunk by its best vector entry (its text or one of its
question keys) and its BM25 score. On the regulations Q&A sets the article that answers is among
the candidates for almost every question, yet first for only three in four: the articles of one
statute share their vocabulary, and a neighbouring article often wins. Two signals tell them
apart better:

* "sentence": the e5 similarity of the question to the best of the chunk's answer sentences
  (kb.text.quotable.answer_sentences, the sentences a reply may quote; their vectors are
  stored at ingest), so an article wins by one sentence that says what was asked rather than by
  its overall topic;
* "text": the similarity of the question's search vector to the chunk's own text vector (the
  fusion's dense signal is the best of the text and its keys).

The re-ranked score is σ(b + w·x) over RERANK_FEATURES, every weight ≥ 0, fitted by `fit_rerank`:
a listwise loss orders the candidates, then a logistic calibration makes the score read as
"probability this chunk answers the question", like the fused score it replaces. Fitting and the
left-out-set figures: `python -m evals.fit_rerank` (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kb.index.similarity import SentenceSimilarity
from kb.search.weights import load_weights
from kb.text.question import Question
from kb.text.quotable import answer_sentences
from kb.types import Chunk

RERANK_FEATURES = (
    "fused_logit",  # log-odds of the fused score
    "sentence",  # e5 similarity of the question to the chunk's best answer sentence
    "text",  # similarity of the question's search vector to the chunk's own text vector
    "bm25",  # log(1 + BM25)
    "key",  # similarity of the question to the chunk's best question key (0 without one)
    "key_over_text",  # how far that key is closer to the question than the chunk's own text (≥ 0)
)
# bias, then one weight per RERANK_FEATURES entry (evals.fitting.fit_rerank; rerank_weights.json)
RERANK_WEIGHTS = load_weights("rerank", RERANK_FEATURES)


class SentenceScorer:
    """Best similarity of a question to each chunk's answer sentences."""

    def __init__(self, sim: SentenceSimilarity) -> None:
        self.sim = sim

    def question_vector(self, question: Question) -> np.ndarray:
        # the text the composer scores sentences against: its vector is then cached for the reply
        return self.sim.embed([question.simplified])[0]

    def best(self, qvec: np.ndarray, chunks: Sequence[Chunk]) -> np.ndarray:
        """Per chunk, the best similarity of qvec to its answer sentences; a chunk without any
        (a heading, a fragment) gets the lowest value among the others, so it neither wins nor
        loses by this signal alone."""
        per_chunk = [answer_sentences(c) for c in chunks]
        texts = list(dict.fromkeys(s for sents in per_chunk for s in sents))
        if not texts:
            return np.zeros(len(chunks))
        sims = dict(zip(texts, self.sim.embed(texts) @ qvec, strict=True))
        best = np.array([max((sims[s] for s in sents), default=np.nan) for sents in per_chunk], dtype=np.float64)
        floor = np.nanmin(best)
        return np.where(np.isnan(best), floor, best)


def log_odds(p):
    """log(p / (1 − p)) of a probability or an array of them, p clipped to [1e-6, 1 − 1e-6]."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def rerank_features(fused: np.ndarray, sentence: np.ndarray, text: np.ndarray, bm25: np.ndarray,
                    key: np.ndarray | None = None) -> np.ndarray:
    """Rows of RERANK_FEATURES, one per candidate; `key` is each chunk's best key similarity (−1: none)."""
    text = np.asarray(text, np.float64)
    key = np.full(len(text), -1.0) if key is None else np.asarray(key, np.float64)
    has = key > -1.0
    return np.column_stack(
        [log_odds(fused), np.asarray(sentence, np.float64), text,
         np.log1p(np.maximum(np.asarray(bm25, np.float64), 0.0)),
         np.where(has, np.maximum(key, 0.0), 0.0), np.where(has, np.maximum(key - text, 0.0), 0.0)]
    )


def rerank(features: np.ndarray, weights: Sequence[float] = RERANK_WEIGHTS) -> np.ndarray:
    """Calibrated relevance in [0, 1] for each row of rerank_features."""
    if len(features) == 0:
        return np.zeros(0)
    z = weights[0] + features @ np.asarray(weights[1:], dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))
