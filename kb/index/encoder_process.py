"""How a question is embedded to search the vector store: with the bundled e5, by the lay-question
encoder (kb.index.query_encoder) in a worker process of its own; otherwise by the embedder's own
query side."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from kb.errors import StoreError
from kb.index.embedders import Embedder, VectorCache

# How much of the lay-question adapter goes into the weights: halfway between e5 and the tuned
# network (weight-space interpolation), which on LeCoQA's held-out questions ranks like the mean of
# the two query vectors at the cost of one forward pass (docs/benchmarks.md).
LAY_STRENGTH = 0.5


class EncoderProcess:
    """The lay-question encoder (kb/index/query_encoder.py) in a worker process of its own.

    Run in the web server's threads, its numpy forward pass releases and re-takes the GIL hundreds
    of times a question and waited behind every other busy thread each time: under the load test
    (10 clients and an upload) the server fell from 42 to 2–15 requests/s. In its own process, with
    one BLAS thread, a question costs the same ~20 ms whatever the server is doing.

    The worker is `python -m kb.index.query_encoder`, started on the first question, spoken to over its
    stdin/stdout (kb.index.query_encoder.serve). Not multiprocessing: its "spawn" start re-imports the
    server's main module in the child (for `citedesk serve`, the whole CLI with Chroma, FastAPI and
    the LLM client: about 120 MB and 3 s more per worker, for a process that needs only numpy).
    The pipe also ties the worker's life to the server's: when the server exits or is killed, the
    worker reads the end of its input and stops. A worker that dies is started again once; an error
    building the encoder, such as a damaged adapter, is raised to the caller as it was raised."""

    def __init__(self, strength: float, adapter_dir: Path):
        self._strength = strength
        self._adapter = Path(adapter_dir)
        self._lock = threading.Lock()  # one question at a time on the pipe
        self._proc: subprocess.Popen | None = None
        atexit.register(self.close)

    def _start(self) -> subprocess.Popen:
        root = str(Path(__file__).resolve().parents[2])  # where the kb package is, installed or not
        env = {
            **os.environ,
            # small matrices: extra BLAS threads would only spin against the server's
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
        }
        return subprocess.Popen(
            [sys.executable, "-m", "kb.index.query_encoder", repr(self._strength), str(self._adapter)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def pids(self) -> list[int]:
        """Process id of the running worker (none before the first call)."""
        proc = self._proc
        return [proc.pid] if proc is not None and proc.poll() is None else []

    def embed(self, texts: list[str]) -> np.ndarray:
        from kb.index.query_encoder import recv_reply, send_texts

        with self._lock:
            for attempt in (1, 2):
                if self._proc is None or self._proc.poll() is not None:
                    self._proc = self._start()
                try:
                    send_texts(self._proc.stdin, list(texts))
                    status, value = recv_reply(self._proc.stdout)
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


@lru_cache(maxsize=4)
def _lay_query_encoder(adapter_dir: str) -> EncoderProcess:
    return EncoderProcess(LAY_STRENGTH, Path(adapter_dir))


def search_query_encoder(
    embedder: Embedder, choice: str = "lay", adapter_dir: Path | None = None
) -> Callable[[list[str]], np.ndarray]:
    """How a question is embedded to search the vector store. "lay" (the default) with the bundled
    e5 and a query adapter (a bundle's query_adapter/, kb/bundles.py): e5's query side with half of
    the adapter merged in (kb/index/query_encoder.py, run by EncoderProcess); the stored document
    vectors are unchanged. Otherwise, and for any other embedder: its own query side."""
    if choice == "lay" and embedder.name == "e5-small" and adapter_dir is not None:
        return _lay_questions_embedder(str(adapter_dir))
    return embedder.embed_queries


@lru_cache(maxsize=4)
def _lay_questions_embedder(adapter_dir: str) -> Callable[[list[str]], np.ndarray]:
    # Questions come back (the same FAQ asked by many customers; the complaint procedure's fixed
    # query with every complaint): their vectors are kept, so a repeat costs no trip to the worker.
    vectors = VectorCache(4096)

    def embed(texts: list[str]) -> np.ndarray:
        if not texts:
            return _lay_query_encoder(adapter_dir).embed(texts)
        # the worker starts on the first search (about a second), so ingest-only runs never pay for it
        return np.vstack(vectors.get(texts, lambda missing: _lay_query_encoder(adapter_dir).embed(missing)))

    return embed
