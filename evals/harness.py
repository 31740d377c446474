"""The evaluation harness: every question of a Q&A set through `Answerer.ask` (the code the API
uses), once; retrieval metrics from the answer's own hits; answers scored against key points,
expected sources and answerability; overall and per-topic aggregates; thresholds for CI.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from evals import metrics as m
from evals.qaset import QAItem, QASet
from kb.errors import CiteDeskError, ValidationError
from kb.text.norm import normalize

RETRIEVAL_KEYS = ("hit@1", "hit@3", "hit@5", "mrr", "ndcg@5", "recall@5")
ANSWER_KEYS = (
    "accuracy", "key_point_coverage", "cited_expected", "answerable_abstained", "citation_precision",
    "abstention_precision", "abstention_recall",
)
LATENCY_KEYS = ("latency_p50_ms", "latency_p95_ms")
RAGAS_KEYS = (
    "id_context_precision", "id_context_recall", "nonllm_context_recall", "string_similarity",
    "faithfulness", "factual_correctness", "answer_relevancy",
)
METRIC_KEYS = RETRIEVAL_KEYS + ANSWER_KEYS + LATENCY_KEYS + RAGAS_KEYS
LOWER_IS_BETTER = set(LATENCY_KEYS) | {"answerable_abstained"}


def _citation_dict(c: Any) -> dict[str, Any]:
    return {"n": c.n, "chunk_id": c.chunk_id, "title": c.title, "section": c.section, "quote": c.quote}


def _failure(item: QAItem, row: dict[str, Any]) -> str:
    """Why an item counts as wrong, in words a trainer can act on."""
    if row.get("error"):
        return f"the answerer failed: {row['error']}"
    if not item.answerable:
        return "answered a question the knowledge base cannot answer (should abstain)"
    parts = []
    if row["abstained"]:
        found = row.get("first_expected_rank")
        parts.append("abstained on an answerable question"
                     + (f" although an expected source was retrieved at rank {found}" if found else
                        (" (no expected source was retrieved)" if item.expected_sources else "")))
    if row["missed_key_points"] and not row["abstained"]:
        parts.append("missed key points: " + "、".join(row["missed_key_points"]))
    if not item.key_points and not row["abstained"] and not row["cited_expected"]:
        parts.append("no citation of an expected source")
    if item.expected_sources and row.get("hit@5") == 0.0:
        parts.append("no expected source in the top 5 retrieved")
    return "; ".join(parts)


def score_item(item: QAItem, answer: Any, matcher: m.KeyPointMatcher, latency_ms: float) -> dict[str, Any]:
    """One item's row of `per_question`."""
    hits = list(getattr(answer, "hits", []) or [])
    cites = list(answer.citations or [])
    row: dict[str, Any] = {
        "id": item.id, "question": item.question, "topic": item.topic or "(none)", "answerable": item.answerable,
        "abstained": bool(answer.abstained), "answer": answer.text, "mode": getattr(answer, "mode", ""),
        "confidence": getattr(answer, "confidence", None), "flags": list(answer.flags or []),
        "dropped": list(answer.dropped or []), "citations": [_citation_dict(c) for c in cites],
        "retrieved": [{"title": h.chunk.title, "section": h.chunk.section, "chunk_id": h.chunk.chunk_id} for h in hits],
        "latency_ms": round(latency_ms, 1), "expects_source": bool(item.answerable and item.expected_sources),
    }
    if item.answerable and item.expected_sources:
        row.update(m.retrieval_scores(hits, item.expected_sources))
        rel = m.relevance(hits, item.expected_sources)
        row["first_expected_rank"] = next((i + 1 for i, r in enumerate(rel) if r >= 0), None)
    how = matcher.match(item.key_points, answer.text) if item.answerable and not answer.abstained else \
        {kp: "" for kp in item.key_points}
    row["key_points"] = how
    row["missed_key_points"] = [kp for kp, v in how.items() if not v]
    row["key_point_coverage"] = m.coverage(how)
    row["cited_expected"] = any(m.source_matches(c, s) for c in cites for s in item.expected_sources)
    # an abstention's citations point to the escalation procedure, not to claims: not counted
    cp = m.citation_precision(cites, item.expected_sources) if item.answerable and not answer.abstained else None
    if cp is not None:
        row["citation_precision"] = cp
    row["correct"] = m.item_correct(item.answerable, row["abstained"], row["key_point_coverage"], row["cited_expected"])
    row["failure"] = "" if row["correct"] else _failure(item, row)
    return row


def _error_row(item: QAItem, exc: Exception, latency_ms: float) -> dict[str, Any]:
    return {"id": item.id, "question": item.question, "topic": item.topic or "(none)", "answerable": item.answerable,
            "abstained": False, "answer": "", "citations": [], "retrieved": [], "flags": [], "dropped": [],
            "key_points": {kp: "" for kp in item.key_points}, "missed_key_points": list(item.key_points),
            "key_point_coverage": 0.0 if item.key_points else None, "cited_expected": False,
            "expects_source": bool(item.answerable and item.expected_sources),
            "latency_ms": round(latency_ms, 1), "correct": False, "error": str(exc),
            "failure": f"the answerer failed: {exc}"}


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Overall metrics of a list of per-question rows. Retrieval metrics cover answerable items
    with expected sources; key-point coverage answerable items with key points."""
    out: dict[str, Any] = {"n": len(rows)}
    for key in RETRIEVAL_KEYS:
        out[key] = m.mean([r.get(key) for r in rows])
    out["accuracy"] = m.mean([1.0 if r["correct"] else 0.0 for r in rows])
    out["key_point_coverage"] = m.mean([r.get("key_point_coverage") for r in rows if r["answerable"]])
    # the answer KPI: answerable items answered (not abstained on) with a citation of an expected
    # source; an abstention's "closest sources" do not count, whatever they are
    out["cited_expected"] = m.mean(
        [1.0 if r["cited_expected"] and not r["abstained"] else 0.0 for r in rows if r["answerable"] and r.get("expects_source")]
    )
    out["answerable_abstained"] = m.mean([1.0 if r["abstained"] else 0.0 for r in rows if r["answerable"]])
    out["citation_precision"] = m.mean([r.get("citation_precision") for r in rows])
    out.update(m.abstention_scores([(r["answerable"], r["abstained"]) for r in rows]))
    lat = [r["latency_ms"] for r in rows]
    out["latency_p50_ms"] = m.percentile(lat, 50)
    out["latency_p95_ms"] = m.percentile(lat, 95)
    for key in RAGAS_KEYS:
        vals = [r.get("ragas", {}).get(key) for r in rows]
        if any(v is not None for v in vals):
            out[key] = m.mean(vals)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def per_topic(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["topic"]].append(r)
    keep = ("n", "accuracy", "hit@5", "mrr", "key_point_coverage", "citation_precision")
    return {t: {k: v for k, v in aggregate(g).items() if k in keep} for t, g in sorted(groups.items())}


class SourceResolver:
    """Expected sources → the knowledge base's chunks (ids and texts), for chunk-level ragas metrics."""

    def __init__(self, kb: Any):
        self.kb = kb
        self._by_title: dict[str, list[Any]] | None = None

    def chunks(self, sources: list[Any]) -> list[Any]:
        if self._by_title is None:
            self._by_title = defaultdict(list)
            for d in self.kb.documents():
                self._by_title[normalize(d.title).strip()].append(d.doc_id)
        out, seen = [], set()
        for s in sources:
            if s.chunk_id:
                cands = [c for c in [self.kb.get_chunk(s.chunk_id)] if c is not None]
            else:
                cands = [c for d in self._by_title.get(normalize(s.title).strip(), []) for c in self.kb.chunks_of(d)]
            for c in cands:
                if c.chunk_id not in seen and m.source_matches(c, s):
                    seen.add(c.chunk_id)
                    out.append(c)
        return out


def _sample(item: QAItem, answer: Any, resolver: SourceResolver | None) -> dict[str, Any]:
    """What the ragas bridge scores (see evals.ragas_metrics)."""
    hits = list(answer.hits or [])
    expected = resolver.chunks(item.expected_sources) if resolver and item.expected_sources else []
    return {
        "user_input": item.question, "response": answer.text, "reference": item.reference_answer,
        "retrieved_contexts": [h.chunk.text for h in hits], "retrieved_context_ids": [h.chunk.chunk_id for h in hits],
        "reference_contexts": [c.text for c in expected], "reference_context_ids": [c.chunk_id for c in expected],
    }


def run_eval(qaset: QASet, answerer: Any, *, kb: Any = None, matcher: m.KeyPointMatcher | None = None,
             judge: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Ask every question once through `answerer.ask` and score it. With `kb`, expected sources are
    resolved to chunks for the ragas metrics. `judge` (evals.ragas_metrics.RagasScorer) adds
    row["ragas"] scores and returns {"metrics": [...], "errors": [...]}."""
    matcher = matcher or m.KeyPointMatcher()
    resolver = SourceResolver(kb) if kb is not None else None
    started = dt.datetime.now(dt.UTC)
    rows = []
    for i, item in enumerate(qaset.items):
        t0 = time.perf_counter()
        try:
            answer = answerer.ask(item.question)
        except (CiteDeskError, RuntimeError, ValueError, OSError) as exc:
            rows.append(_error_row(item, exc, (time.perf_counter() - t0) * 1000))
        else:
            wall = (time.perf_counter() - t0) * 1000
            rows.append(score_item(item, answer, matcher, getattr(answer, "latency_ms", 0) or wall))
            if item.answerable and not answer.abstained:
                rows[-1]["_sample"] = _sample(item, answer, resolver)
        if progress:
            progress(i + 1, len(qaset.items))
    ragas_info = judge(rows) if judge else {"metrics": [], "errors": []}
    for r in rows:
        r.pop("_sample", None)
    return {
        "set": qaset.name, "description": qaset.description,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "overall": aggregate(rows), "per_topic": per_topic(rows), "per_question": rows, "ragas": ragas_info,
    }


def parse_thresholds(spec: str | None) -> dict[str, float]:
    """"hit@5=0.95,accuracy=0.85" → {"hit@5": 0.95, "accuracy": 0.85}; unknown names are an error."""
    out: dict[str, float] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise ValidationError(f"--fail-under: {part.strip()!r} is not metric=value")
        if name not in METRIC_KEYS:
            raise ValidationError(f"--fail-under: unknown metric {name!r} (metrics: {', '.join(METRIC_KEYS)})")
        try:
            out[name] = float(value)
        except ValueError:
            raise ValidationError(f"--fail-under: {name} needs a number, not {value.strip()!r}") from None
    return out


def check_thresholds(overall: dict[str, Any], thresholds: dict[str, float]) -> list[str]:
    """Failed gates as messages; latency thresholds are maxima, every other a minimum. A metric
    that could not be measured (None) fails."""
    failed = []
    for name, limit in thresholds.items():
        value = overall.get(name)
        if value is None:
            failed.append(f"{name} was not measured (threshold {limit:g})")
        elif name in LOWER_IS_BETTER and value > limit:
            failed.append(f"{name} = {value:g} is above the maximum {limit:g}")
        elif name not in LOWER_IS_BETTER and value < limit:
            failed.append(f"{name} = {value:.4f} is below the threshold {limit:g}")
    return failed
