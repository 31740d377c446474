"""The LeCoQA public benchmark: 1,543 real lay legal questions against statute articles, measured
through the product's own `KnowledgeBase.search`.

Corpus: the unique gold articles of `<corpora>/lecoqa/lecoqa_all.jsonl` (one document per law, one
chunk per article, section = the article name such as 中华人民共和国民法典第六百七十条) plus the articles
of `<corpora>/regulations_zh` as distractors, built by evals.retrieval_bench.lecoqa_documents (the same
corpus the retrieval tuning uses) and upserted with the normal knowledge base. A question is a hit@k
when a chunk among the first k results has a gold article's name as its section.

`--limit N` measures the first N questions against a slice: their gold articles plus 2·N distractor
articles (a smoke test; only the full run is comparable with published numbers).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.retrieval_bench import Question, lecoqa_documents
from kb.errors import ConfigError
from kb.types import Chunk, Document

SOURCE_PREFIX = "lecoqa:"
KS = (1, 5, 10)


def corpus(corpora_dir: Path, limit: int | None = None) -> tuple[list[Question], list[tuple[Document, list[Chunk]]]]:
    """(questions, documents with their chunks); with `limit`, the slice described above."""
    path = Path(corpora_dir) / "lecoqa" / "lecoqa_all.jsonl"
    if not path.is_file():
        raise ConfigError(f"LeCoQA is not at {path}; set CITEDESK_CORPORA_DIR or pass --corpora DIR")
    questions, docs = lecoqa_documents(Path(corpora_dir))
    if not limit:
        return questions, docs
    questions = questions[:limit]
    gold = set().union(*(q.gold for q in questions)) if questions else set()
    budget = 2 * limit
    sliced = []
    for doc, chunks in docs:
        keep = []
        for c in chunks:
            if c.section in gold:
                keep.append(c)
            elif budget > 0:
                budget -= 1
                keep.append(c)
        if keep:
            sliced.append((doc, keep))
    return questions, sliced


def build(kb: Any, docs: list[tuple[Document, list[Chunk]]],
          progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Upsert the corpus into a writer KnowledgeBase (unchanged documents cost nothing) and remove
    benchmark documents that are no longer part of it."""
    counts = {"added": 0, "updated": 0, "unchanged": 0, "removed": 0, "chunks": 0}
    wanted = {doc.doc_id for doc, _ in docs}
    for info in kb.documents():
        if info.source.startswith(SOURCE_PREFIX) and info.doc_id not in wanted:
            kb.remove_document(info.doc_id)
            counts["removed"] += 1
    for i, (doc, chunks) in enumerate(docs):
        result = kb.upsert_document(doc, chunks)
        counts[result.status] = counts.get(result.status, 0) + 1
        counts["chunks"] += len(chunks)
        if progress:
            progress(i + 1, len(docs))
    return counts


def first_gold_rank(sections: list[str], gold: set[str]) -> int | None:
    """1-based rank of the first result whose section is a gold article name."""
    return next((i + 1 for i, s in enumerate(sections) if s in gold), None)


def score(ranks: list[int | None]) -> dict[str, float]:
    """hit@1/5/10 and MRR@10 from each question's first gold rank (None = not in the top 10)."""
    n = len(ranks) or 1
    out = {f"hit@{k}": round(sum(1 for r in ranks if r is not None and r <= k) / n, 4) for k in KS}
    out["mrr@10"] = round(sum(1.0 / r for r in ranks if r is not None and r <= 10) / n, 4)
    return out


def run(kb: Any, questions: list[Question], progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Every question through kb.search(k=10); overall scores and the held-out half (odd query ids,
    the questions the fusion weights were not fitted on)."""
    ranks: list[int | None] = []
    odd: list[int | None] = []
    t0 = time.perf_counter()
    for i, q in enumerate(questions):
        hits = kb.search(q.question, k=10)
        rank = first_gold_rank([h.chunk.section for h in hits], q.gold)
        ranks.append(rank)
        if q.qid % 2 == 1:
            odd.append(rank)
        if progress:
            progress(i + 1, len(questions))
    elapsed = time.perf_counter() - t0
    return {
        "questions": len(questions), **score(ranks),
        "heldout": {"questions": len(odd), **score(odd)},
        "search_ms_mean": round(1000 * elapsed / max(1, len(questions)), 1),
    }
