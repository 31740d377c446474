"""The LeCoQA public benchmark: 1,543 real lay legal questions against statute articles, measured
through the product's own `KnowledgeBase.search`.

Corpus: the unique gold articles of `<corpora>/lecoqa/lecoqa_all.jsonl` (one document per law, one
chunk per article, section = the article name such as 中华人民共和国民法典第六百七十条) plus the articles
of `<corpora>/regulations_zh` as distractors (`lecoqa_documents`, the same corpus the retrieval
tuning uses), upserted with the normal knowledge base (`build`). A question is a hit@k when a chunk
among the first k results has a gold article's name as its section.

`corpus(dir, limit=N)` measures the first N questions against a slice: their gold articles plus 2·N
distractor articles (a smoke test; only the full run is comparable with published numbers). `run`
puts every question through `kb.search` (`citedesk bench lecoqa`); `collect`, `score_rows` and
`run_lecoqa` compare dense, BM25, plain RRF and the calibrated fusion side by side on the
retriever's candidates, with the held-out half (odd query ids, which `evals.fitting.fit_fusion` is
not fitted on: `split`) reported separately.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import ConfigError
from kb.search.fusion import FUSION_WEIGHTS, fuse
from kb.types import Chunk, Document, make_chunk_id, make_doc_id

SOURCE_PREFIX = "lecoqa:"
KS = (1, 5, 10)
_ARTICLE = re.compile(r"^(第[零〇一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)\s*(.*)$")
_LAW = re.compile(r"^(.*?)(第[零〇一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)$")


@dataclass
class Question:
    qid: int
    question: str
    gold: set[str]  # article names


def load_lecoqa(corpora_dir: Path) -> tuple[list[Question], dict[str, str]]:
    """(questions, {article name: text}) from lecoqa/lecoqa_all.jsonl."""
    questions, articles = [], {}
    path = Path(corpora_dir) / "lecoqa" / "lecoqa_all.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        gold = set()
        for g in row["gold_passages"]:
            articles.setdefault(g["name"], g["text"].strip())
            gold.add(g["name"])
        questions.append(Question(int(row["query_id"]), row["question"], gold))
    return questions, articles


def regulation_title(lines: list[str], path: Path) -> str:
    """A regulations_zh file's statute title: its first "# " heading, else the file name."""
    return next((ln[2:].strip() for ln in lines if ln.startswith("# ")), path.stem)


def regulation_articles(corpora_dir: Path) -> dict[str, str]:
    """{"<law title>第X条": text} for every article of the regulations_zh statutes."""
    out: dict[str, str] = {}
    for path in sorted((Path(corpora_dir) / "regulations_zh").glob("*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        title = regulation_title(lines, path)
        body = lines[next((i for i, ln in enumerate(lines) if "INFO END" in ln), -1) + 1 :]
        name, parts = None, []
        for ln in body + ["第零条"]:
            ln = ln.strip()
            m = _ARTICLE.match(ln)
            if m:
                if name and parts:
                    out.setdefault(f"{title}{name}", "\n".join(parts))
                name, parts = m.group(1), [m.group(2)] if m.group(2) else []
            elif name and ln and not ln.startswith("#"):
                parts.append(ln)
    return out


def lecoqa_documents(corpora_dir: Path) -> tuple[list[Question], list[tuple[Document, list[Chunk]]]]:
    """The benchmark corpus as documents (one per law) with one chunk per article."""
    questions, gold = load_lecoqa(corpora_dir)
    articles = dict(gold)
    seen_text = {re.sub(r"\s+", "", t) for t in gold.values()}
    for name, text in regulation_articles(corpora_dir).items():
        if name not in articles and re.sub(r"\s+", "", text) not in seen_text:
            articles[name] = text
    laws: dict[str, list[tuple[str, str]]] = {}
    for name, text in articles.items():
        laws.setdefault(law_of(name), []).append((name, text))
    return questions, law_documents(laws, "lecoqa:")


def law_of(article: str) -> str:
    """"中华人民共和国民法典第六百七十条" → "中华人民共和国民法典"."""
    m = _LAW.match(article)
    return m.group(1) if m else article


def law_documents(laws: dict[str, list[tuple[str, str]]], source_prefix: str) -> list[tuple[Document, list[Chunk]]]:
    """One document per law (source `<prefix><law>`), one chunk per (article name, text)."""
    out = []
    for law, arts in sorted(laws.items()):
        doc_id = make_doc_id(f"{source_prefix}{law}")
        doc = Document(doc_id, law, "regulation", f"{source_prefix}{law}", "\n".join(t for _, t in arts), {})
        chunks = [Chunk(make_chunk_id(doc_id, t, n), doc_id, t, section=n) for n, t in arts]
        out.append((doc, chunks))
    return out


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


# The per-method comparison on the retriever's candidates (dense, BM25, plain RRF, the calibrated fusion)


def collect(kb, questions: list[Question], n: int = 50) -> list[dict[str, Any]]:
    """Per question: candidate sections with dense and BM25 scores (both computed for every candidate)."""
    rows = []
    for q in questions:
        chunks, d, b, cand, _ = kb.retriever.candidates(q.question, n, n)
        rows.append(
            {
                "qid": q.qid,
                "gold": q.gold,
                "sections": [chunks[c].section for c in cand],
                "dense": d,
                "bm25": b,
            }
        )
    return rows


def _ranks(row: dict[str, Any], method: str, weights) -> list[int]:
    d, b = row["dense"], row["bm25"]
    if method == "dense":
        order = np.argsort(-d, kind="stable")
    elif method == "bm25":
        order = [i for i in np.argsort(-b, kind="stable") if b[i] > 0]
    elif method == "rrf":
        rd = np.empty(len(d)), np.empty(len(b))
        rd[0][np.argsort(-d, kind="stable")] = np.arange(len(d))
        rd[1][np.argsort(-b, kind="stable")] = np.arange(len(b))
        rrf = 1 / (60 + rd[0]) + np.where(b > 0, 1 / (60 + rd[1]), 0)
        order = np.argsort(-rrf, kind="stable")
    else:
        order = np.argsort(-fuse(d, b, weights), kind="stable")
    return list(order)


def score_rows(rows: list[dict[str, Any]], method: str = "fused", weights=FUSION_WEIGHTS) -> dict[str, float]:
    """hit@1, hit@5 and MRR@10 of one ranking method over collected rows."""
    h1 = h5 = mrr = 0.0
    for row in rows:
        order = _ranks(row, method, weights)
        secs = [row["sections"][i] for i in order[:10]]
        first = next((i for i, s in enumerate(secs) if s in row["gold"]), None)
        if first is not None:
            h1 += first == 0
            h5 += first < 5
            mrr += 1.0 / (first + 1)
    n = max(1, len(rows))
    return {"hit@1": round(h1 / n, 4), "hit@5": round(h5 / n, 4), "mrr@10": round(mrr / n, 4), "n": len(rows)}


def split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A fixed split: even query ids fit, odd query ids test."""
    return [r for r in rows if r["qid"] % 2 == 0], [r for r in rows if r["qid"] % 2 == 1]


def run_lecoqa(kb, corpora_dir: Path, n: int = 50, limit: int | None = None) -> dict[str, Any]:
    """Every method on all questions and on the held-out (odd id) half; the KB must hold the corpus."""
    questions, _ = load_lecoqa(corpora_dir)
    if limit:
        questions = questions[:limit]
    rows = collect(kb, questions, n)
    _, test = split(rows)
    out: dict[str, Any] = {"questions": len(rows), "chunks": kb.stats()["chunks"]}
    for method in ("bm25", "dense", "rrf", "fused"):
        out[method] = score_rows(rows, method)
        out[f"{method}_heldout"] = score_rows(test, method)
    return out
