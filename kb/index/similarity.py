"""Similarity of short texts (a question and the sentences a reply may quote) with the knowledge base's
embedder, cached by text and backed by the sentence vectors the catalog stores at ingest."""

from __future__ import annotations

import numpy as np

from kb.index.embedders import VectorCache


class SentenceSimilarity:
    """Cosine similarity of short texts with an Embedder (query prefix on both sides, the
    e5 recipe for symmetric tasks), cached by text: a chunk's sentences are embedded once
    per process however many questions retrieve it."""

    def __init__(self, embedder, cache_size: int = 20_000, stored=None) -> None:
        """`stored(texts)` → {text: vector} looks up vectors computed ahead (at ingest) with the
        same embedder and prefix; what it lacks is embedded here."""
        self.embedder = embedder
        self.stored = stored
        self._cache = VectorCache(cache_size)

    def _compute(self, missing: list[str]) -> list[np.ndarray]:
        found = self.stored(missing) if self.stored is not None else {}
        todo = [t for t in missing if t not in found]
        rows = dict(zip(todo, self.embedder.embed_queries(todo), strict=True)) if todo else {}
        return [found[t] if t in found else rows[t] for t in missing]

    def embed(self, texts: list[str]) -> np.ndarray:
        out = self._cache.get(texts, self._compute)
        return np.vstack(out) if out else np.zeros((0, 1), dtype=np.float32)

    def best(self, sentence: str, candidates: list[str]) -> tuple[float, int]:
        """Highest similarity of sentence to the candidates and its index."""
        if not candidates:
            return 0.0, -1
        m = self.embed([sentence, *candidates])
        sims = m[1:] @ m[0]
        i = int(np.argmax(sims))
        return float(sims[i]), i
