"""The lexical index: BM25 (bm25s) over normalised jieba tokens of each chunk's index text.

The index text of a chunk is its title, section, text and FAQ key questions, normalised
(NFKC, Traditional→Simplified, lower case) by `kb.text.norm.tokenize`. The catalog stores each
chunk's tokens, so the index is rebuilt from the catalog alone. It is persisted under
data_dir/lexical/ tagged with the catalog snapshot id it was built from; when the catalog has
moved on, the index is rebuilt before it answers, so it never disagrees with the catalog.

A reader of a shared deployment (several processes, each with its own index in memory, no
directory) *follows* instead: searches use the index of the snapshot last built, and
KnowledgeBase.refresh rebuilds it in the background when the catalog moves on; the old index
answers until the new one is complete.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import threading
from pathlib import Path

import bm25s
import numpy as np

from kb.errors import StoreError
from kb.index.catalog import Catalog
from kb.text.norm import tokenize
from kb.types import Chunk

log = logging.getLogger(__name__)

# Lucene BM25; k1/b chosen on LeCoQA (article-sized statute chunks) — see evals/lecoqa.py
BM25_PARAMS = {"k1": 1.2, "b": 0.75, "method": "lucene"}


def index_text(chunk: Chunk, title: str | None = None) -> str:
    """What a chunk's own vector embeds: its title, section and text. Its question keys are vector
    entries of their own, read as evidence about the chunk (kb.search.fusion.key_evidence): in its
    vector they would make a keyed chunk closer to every lay question than an unkeyed one."""
    title = chunk.meta.get("title", "") if title is None else title
    head = " ".join(p for p in (title, chunk.section) if p)
    return "\n".join(p for p in (head, chunk.text) if p)


def lexical_text(chunk: Chunk, title: str | None = None) -> str:
    """What BM25 indexes for a chunk: its own text and its question keys' words. A key's words
    count only where the question shares them (IDF keeps a common word from lifting every keyed
    chunk); the keys' similarity is weighed separately in the fusion and the re-ranking."""
    keys = [str(k) for k in chunk.meta.get("keys") or []]
    return "\n".join([index_text(chunk, title), *keys])


def chunk_tokens(chunk: Chunk, title: str | None = None) -> list[str]:
    return tokenize(lexical_text(chunk, title))


class LexicalIndex:
    """BM25 over the catalog's chunks, rebuilt lazily when the catalog snapshot changes."""

    META = "citedesk.json"

    def __init__(self, catalog: Catalog, directory: Path | None) -> None:
        self.catalog = catalog
        self.directory = Path(directory) if directory is not None else None  # None: in memory only
        self._lock = threading.RLock()  # guards the swap of the index, held only for an instant
        self._build_lock = threading.Lock()  # one rebuild at a time
        self.following = False  # see the module docstring
        self._retriever: bm25s.BM25 | None = None
        self._ids: list[str] = []
        self._pos: dict[str, int] = {}
        self._doc_ids = np.array([], dtype=object)
        self.snapshot_id: str | None = None
        self.rebuilds = 0
        self._load()

    # -- persistence -------------------------------------------------------------------------

    def _load(self) -> None:
        if self.directory is None:
            return
        meta_path = self.directory / self.META
        if not meta_path.is_file():
            return
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            ids, doc_ids = meta["chunk_ids"], meta["doc_ids"]
            retriever = bm25s.BM25.load(str(self.directory), load_corpus=False) if ids else None
        except Exception as exc:  # a damaged index is rebuilt from the catalog, never trusted
            log.warning("lexical index under %s is unreadable (%s); it will be rebuilt", self.directory, exc)
            return
        self._retriever, self._ids, self.snapshot_id = retriever, ids, meta.get("snapshot_id")
        self._doc_ids = np.array(doc_ids, dtype=object)
        self._pos = {cid: i for i, cid in enumerate(ids)}

    def _save(self) -> None:
        tmp = self.directory.with_name(self.directory.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._retriever is not None:
            self._retriever.save(str(tmp), show_progress=False)
        (tmp / self.META).write_text(
            json.dumps(
                {
                    "snapshot_id": self.snapshot_id,
                    "chunk_ids": self._ids,
                    "doc_ids": self._doc_ids.tolist(),
                    "params": BM25_PARAMS,
                }
            ),
            encoding="utf-8",
        )
        old = self.directory.with_name(self.directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.directory.exists():
            self.directory.rename(old)
        tmp.rename(self.directory)
        shutil.rmtree(old, ignore_errors=True)

    # -- build -------------------------------------------------------------------------------

    def rebuild(self) -> None:
        """Build the index of the catalog's current snapshot; searches use the previous index until
        this one is complete."""
        with self._build_lock:
            self._rebuild()

    def _rebuild(self) -> None:
        # Tokens become vocabulary ids row by row, as the catalog streams them. Handing bm25s
        # the token strings instead held every token of every chunk as a Python string at once:
        # at 100k chunks the rebuild peaked at 1.9 GB, now 0.9 GB (an id list shares the
        # vocabulary's int objects). bm25s builds the same index either way.
        ids, doc_ids, corpus, vocab = [], [], [], {}
        with self.catalog.lexical_rows() as (snap, rows):
            for chunk_id, doc_id, tokens in rows:
                ids.append(chunk_id)
                doc_ids.append(doc_id)
                corpus.append([vocab.setdefault(t, len(vocab)) for t in tokens.split(" ")] if tokens else [])
        retriever = None
        if ids:
            retriever = bm25s.BM25(**BM25_PARAMS)
            retriever.index((corpus, vocab), show_progress=False)
        del corpus
        doc_array, pos = np.array(doc_ids, dtype=object), {cid: i for i, cid in enumerate(ids)}
        with self._lock:
            self._retriever, self._ids, self._doc_ids, self._pos = retriever, ids, doc_array, pos
            self.snapshot_id = snap
            self.rebuilds += 1
        if self.directory is None:
            return
        try:
            self._save()
        except OSError as exc:
            raise StoreError(f"cannot write the lexical index under {self.directory}: {exc}") from exc

    def ensure_fresh(self) -> None:
        if self.following:  # the follower keeps it current; only a first build happens here
            if self.snapshot_id is None:
                with self._build_lock:
                    if self.snapshot_id is None:
                        self._rebuild()
            return
        if self.snapshot_id != self.catalog.snapshot_id:
            with self._build_lock:
                if self.snapshot_id != self.catalog.snapshot_id:
                    self._rebuild()

    # -- search ------------------------------------------------------------------------------

    def knows(self, text: str) -> bool:
        """Whether every search token of `text` occurs somewhere in the indexed chunks."""
        self.ensure_fresh()
        with self._lock:
            retriever = self._retriever
        vocab = getattr(retriever, "vocab_dict", None) or {}
        tokens = tokenize(text)
        return bool(tokens) and all(t in vocab for t in tokens)

    def rare_term_idf(self) -> float:
        """The BM25 IDF (Lucene's, as bm25s computes it) of a term found in exactly one chunk: the
        most a single matched term can weigh. It grows with the size of the index, so a BM25 score
        divided by it reads the same on a 10-chunk and a 10,000-chunk knowledge base."""
        self.ensure_fresh()
        with self._lock:
            n = len(self._ids)
        return math.log(1.0 + (n - 1 + 0.5) / 1.5) if n else 1.0

    def scores(
        self,
        query: str | list[str],
        allowed_docs: set[str] | None = None,
        extra: list[str] | None = None,
        extra_weight: float = 0.0,
    ) -> tuple[list[str], np.ndarray, dict[str, int]]:
        """(chunk ids, BM25 score of each, chunk id → position) for a query; chunks outside
        `allowed_docs` score 0. `extra` tokens (query expansion) add `extra_weight` times their
        own score, computed on the same index: a rebuild between two calls would not line up."""
        self.ensure_fresh()
        tokens = tokenize(query) if isinstance(query, str) else list(query)
        with self._lock:
            retriever, ids, doc_ids, pos = self._retriever, self._ids, self._doc_ids, self._pos
        if retriever is None or not tokens:
            return ids, np.zeros(len(ids), dtype=np.float32), pos
        scores = retriever.get_scores(tokens)
        if extra and extra_weight:
            scores = scores + extra_weight * retriever.get_scores(list(extra))
        if allowed_docs is not None:
            scores = np.where(np.isin(doc_ids, list(allowed_docs)), scores, 0.0)
        return ids, scores, pos

    def search(
        self, query: str | list[str], n: int, allowed_docs: set[str] | None = None
    ) -> list[tuple[str, float]]:
        """Top n (chunk_id, BM25 score > 0)."""
        ids, scores, _ = self.scores(query, allowed_docs)
        return top_n(ids, scores, n)


def top_n(ids: list[str], scores: np.ndarray, n: int) -> list[tuple[str, float]]:
    n = min(n, len(ids))
    if n <= 0:
        return []
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(ids[i], float(scores[i])) for i in top if scores[i] > 0]
