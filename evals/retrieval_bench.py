"""Retrieval quality on LeCoQA: 1,543 real lay legal questions against statute articles.

The corpus is the unique gold articles (one chunk per article, section = the article name, e.g.
"中华人民共和国民法典第六百七十条") plus the articles of regulations_zh as distractors. A question is
a hit@k when one of its gold articles is among the first k results. `run_lecoqa` measures dense,
BM25, plain RRF and the calibrated fusion side by side; `fit_fusion` fits the fusion weights on
one half of the questions (and `run_lecoqa` reports the other half separately).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evals.fitting import fit_calibration, fit_listwise
from kb.search.fusion import FUSION_WEIGHTS, fuse, fusion_features
from kb.types import Chunk, Document, make_chunk_id, make_doc_id

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
        m = _LAW.match(name)
        law = m.group(1) if m else name
        laws.setdefault(law, []).append((name, text))
    out = []
    for law, arts in sorted(laws.items()):
        doc_id = make_doc_id(f"lecoqa:{law}")
        doc = Document(doc_id, law, "regulation", f"lecoqa:{law}", "\n".join(t for _, t in arts), {})
        chunks = [Chunk(make_chunk_id(doc_id, t, n), doc_id, t, section=n) for n, t in arts]
        out.append((doc, chunks))
    return questions, out


def build_lecoqa_kb(kb, corpora_dir: Path, progress=None) -> int:
    """Upsert the benchmark corpus into a writer KnowledgeBase; unchanged documents cost nothing."""
    _, docs = lecoqa_documents(corpora_dir)
    total = 0
    for i, (doc, chunks) in enumerate(docs):
        kb.upsert_document(doc, chunks)
        total += len(chunks)
        if progress:
            progress(i + 1, len(docs))
    return total


def collect(kb, questions: list[Question], n: int = 50) -> list[dict[str, Any]]:
    """Per question: candidate sections with dense and BM25 scores (both computed for every candidate)."""
    rows = []
    for q in questions:
        chunks, d, b, cand = kb.retriever.candidates(q.question, n, n)
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


def fit_fusion(rows: list[dict[str, Any]], lam: float = 1e-3) -> tuple[float, ...]:
    """Fusion weights (bias first) from collected rows, in two steps (kb.search.rerank's shared fits):
    1. ranking weights w ≥ 0 by a listwise loss (`fit_listwise`: softmax over each question's
       candidates, gold as the target), which orders candidates better than a pointwise fit;
    2. a logistic calibration p = σ(a + β·(w·x) + γ·dense), β, γ ≥ 0, on every candidate, so the
       score reads as a probability. The calibration also sees each question once more with its
       gold articles taken out of the candidates (a question the knowledge base cannot answer):
       relative features then look as good as ever, so only absolute evidence can tell the two
       apart, and the score learns to stay low when even the best match is weak."""
    feats = [(fusion_features(r["dense"], r["bm25"]), np.array([s in r["gold"] for s in r["sections"]])) for r in rows]
    w = fit_listwise(feats, lam)
    for r in rows:  # the unanswerable twin of each question
        keep = np.array([s not in r["gold"] for s in r["sections"]])
        if keep.sum() >= 2 and not keep.all():
            feats.append((fusion_features(r["dense"][keep], r["bm25"][keep]), np.zeros(int(keep.sum()), dtype=bool)))
    xs = np.vstack([np.column_stack([np.ones(len(x)), x @ w, x[:, 0]]) for x, _ in feats])
    ys = np.concatenate([y for _, y in feats]).astype(float)
    a, beta, gamma = fit_calibration(
        xs, ys, np.array([-10.0, 1.0, 5.0]), options={"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-8}
    )
    weights = beta * w
    weights[0] += gamma
    return (float(a), *[round(float(x), 4) for x in weights])


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
