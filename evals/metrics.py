"""Evaluation metrics: pure functions a person can check by hand.

Retrieval (against a Q&A item's expected sources), key-point coverage of an answer, per-item
answer accuracy, citation precision, abstention precision/recall and latency percentiles.
docs/evaluation.md states each definition.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from evals.qaset import ExpectedSource
from kb.text.norm import normalize

# ---------------------------------------------------------------- matching retrieved chunks


def _ref(obj: Any) -> tuple[str, str, str]:
    """(chunk_id, title, section) of a Hit, Chunk, Citation or dict."""
    if hasattr(obj, "chunk") and hasattr(obj, "score"):  # a Hit
        obj = obj.chunk
    if isinstance(obj, dict):
        return obj.get("chunk_id", ""), obj.get("title", ""), obj.get("section", "")
    title = getattr(obj, "title", "") or (getattr(obj, "meta", None) or {}).get("title", "")
    return getattr(obj, "chunk_id", ""), title or "", getattr(obj, "section", "") or ""


def source_matches(obj: Any, src: ExpectedSource) -> bool:
    """A retrieved chunk (or citation) matches an expected source when the chunk ids are equal, or
    the titles are equal and the expected section (if any) is a substring of the chunk's section
    path, both compared after kb.text.norm.normalize."""
    chunk_id, title, section = _ref(obj)
    if src.chunk_id:
        return chunk_id == src.chunk_id
    if normalize(title).strip() != normalize(src.title).strip():
        return False
    return not src.section or normalize(src.section).strip() in normalize(section)


def relevance(retrieved: Sequence[Any], sources: Sequence[ExpectedSource]) -> list[int]:
    """For each retrieved item, the index of the first expected source it matches, or -1."""
    out = []
    for r in retrieved:
        out.append(next((i for i, s in enumerate(sources) if source_matches(r, s)), -1))
    return out


def retrieval_scores(retrieved: Sequence[Any], sources: Sequence[ExpectedSource], ks=(1, 3, 5)) -> dict[str, float]:
    """hit@k, recall@k, MRR and nDCG@k of one ranked list against one item's expected sources.

    Each expected source counts once: a second chunk matching an already-found source adds no gain
    to nDCG and no recall (so nDCG stays within [0, 1])."""
    rel = relevance(retrieved, sources)
    out: dict[str, float] = {}
    first = next((i for i, r in enumerate(rel) if r >= 0), None)
    out["mrr"] = 0.0 if first is None else 1.0 / (first + 1)
    for k in ks:
        top = rel[:k]
        found = {r for r in top if r >= 0}
        out[f"hit@{k}"] = 1.0 if found else 0.0
        out[f"recall@{k}"] = len(found) / len(sources) if sources else 0.0
        out[f"ndcg@{k}"] = ndcg(top, len(sources), k)
    return out


def ndcg(rel: Sequence[int], n_relevant: int, k: int) -> float:
    """Binary-gain nDCG@k: gain 1 at rank i (1-based) when the item there finds a new expected
    source, discounted by log2(i + 1); divided by the ideal DCG of min(k, n_relevant) gains."""
    seen: set[int] = set()
    dcg = 0.0
    for i, r in enumerate(rel[:k], start=1):
        if r >= 0 and r not in seen:
            seen.add(r)
            dcg += 1.0 / math.log2(i + 1)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(k, n_relevant) + 1))
    return dcg / ideal if ideal else 0.0


# ---------------------------------------------------------------- key points

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUM = "[零〇一二两三四五六七八九十]+(?:点[零〇一二三四五六七八九]+)?"
_PERCENT = re.compile(rf"百分之(\d+(?:\.\d+)?|{_CN_NUM})")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_SPACES = re.compile(r"\s+")
_MARKERS = re.compile(r"\[\d+\]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])")


def _cn_to_number(text: str) -> str:
    """Chinese numerals below 100 with an optional 点 decimal part (七点二 → 7.2, 十八 → 18)."""
    whole, _, frac = text.partition("点")
    if "十" in whole:
        tens, _, ones = whole.partition("十")
        value = (_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)
    else:
        value = int("".join(str(_CN_DIGITS[c]) for c in whole) or 0)
    return str(value) + ("." + "".join(str(_CN_DIGITS[c]) for c in frac) if frac else "")


def _percent(m: re.Match) -> str:
    num = m.group(1)
    return (num if num[0].isdigit() else _cn_to_number(num)) + "%"


def match_text(text: str) -> str:
    """What key points are compared on: normalize (NFKC full/half width, Traditional→Simplified,
    lower case), 百分之X → X%, thousands separators and all white space removed."""
    t = normalize(_MARKERS.sub("", text))
    t = _PERCENT.sub(_percent, t)
    t = re.sub(r"(?<=\d),(?=\d{3})", "", t)
    return _SPACES.sub("", t)


def numbers_in(text: str) -> list[str]:
    return _NUMBER.findall(match_text(text))


def has_number(number: str, text: str) -> bool:
    """The number appears exactly: 18 is not found in 180 or 1.8."""
    return re.search(rf"(?<![\d.]){re.escape(number)}(?!\.?\d)", match_text(text)) is not None


def string_match(key_point: str, answer: str) -> bool:
    return match_text(key_point) in match_text(answer)


def sentences(text: str) -> list[str]:
    """Answer sentences, citation markers removed."""
    return [s.strip() for s in _SENTENCE_END.split(_MARKERS.sub("", text)) if s.strip()]


# Calibrated on LeCoQA (docs/evaluation.md): e5 cosine of a question's keyword phrase (not literally in
# its answer) with the best sentence of its own lawyer answer vs. of another answer citing the same law
# (a hard negative). At 0.92, 49% of true paraphrases match and 4.8% of same-law negatives do; at 0.89,
# 87% / 27%. A false match inflates accuracy, so precision wins.
SEMANTIC_THRESHOLD = 0.92

Embed = Callable[[list[str]], np.ndarray]


def _default_embed() -> Embed:
    from kb.index.embedders import make_embedder

    return make_embedder("e5").embed_queries


class KeyPointMatcher:
    """Matches key points against an answer: normalised string match first, then the e5 model
    against each answer sentence above `threshold`; a key point with a number matches a sentence
    only when every number in it appears there exactly."""

    def __init__(self, threshold: float = SEMANTIC_THRESHOLD, embed: Embed | None = None, semantic: bool = True):
        self.threshold = threshold
        self.semantic = semantic
        self._embed = embed

    def embed(self, texts: list[str]) -> np.ndarray:
        if self._embed is None:
            self._embed = _default_embed()
        return self._embed(texts)

    def match(self, key_points: Sequence[str], answer: str) -> dict[str, str]:
        """{key point: "string" | "semantic" | ""} ("" = missed)."""
        how = {kp: ("string" if string_match(kp, answer) else "") for kp in key_points}
        todo = [kp for kp in key_points if not how[kp]]
        sents = sentences(answer)
        if not (self.semantic and todo and sents):
            return how
        kv = self.embed(todo)
        sv = self.embed(sents)
        sims = kv @ sv.T
        for i, kp in enumerate(todo):
            nums = numbers_in(kp)
            for j in np.argsort(-sims[i]):
                if sims[i, j] < self.threshold:
                    break
                if all(has_number(n, sents[j]) for n in nums):
                    how[kp] = "semantic"
                    break
        return how


def coverage(how: dict[str, str]) -> float | None:
    """Share of key points matched; None when the item has none."""
    return sum(1 for v in how.values() if v) / len(how) if how else None


# ---------------------------------------------------------------- answers


def item_correct(answerable: bool, abstained: bool, key_points_covered: float | None, cited_expected: bool) -> bool:
    """Answerable: not abstained, and every key point covered (an item without key points instead
    needs a citation of an expected source). Unanswerable: correct iff it abstained."""
    if not answerable:
        return abstained
    if abstained:
        return False
    if key_points_covered is None:
        return cited_expected
    return key_points_covered >= 1.0


def citation_precision(citations: Sequence[Any], sources: Sequence[ExpectedSource]) -> float | None:
    """Cited chunks that match an expected source / citations; None without citations or sources."""
    if not citations or not sources:
        return None
    return sum(1 for c in citations if any(source_matches(c, s) for s in sources)) / len(citations)


def abstention_scores(pairs: Sequence[tuple[bool, bool]]) -> dict[str, float | None]:
    """pairs of (answerable, abstained). Precision: abstentions on unanswerable items / abstentions;
    recall: unanswerable items abstained on / unanswerable items. None when undefined."""
    abstained = [a for a in pairs if a[1]]
    unanswerable = [a for a in pairs if not a[0]]
    right = sum(1 for a in pairs if a[1] and not a[0])
    return {
        "abstention_precision": right / len(abstained) if abstained else None,
        "abstention_recall": right / len(unanswerable) if unanswerable else None,
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default); None for no values."""
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else None


def mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def reliability(pred: Sequence[float], y: Sequence[bool], bins=(0, 0.2, 0.4, 0.6, 0.8, 1.0001)) -> list[dict]:
    """A reliability curve: per bin of predicted probability, how many predictions, their mean and
    the share that came true (for a reply's confidence: the share citing a right source)."""
    pred, y = np.asarray(pred, dtype=float), np.asarray(y, dtype=float)
    out = []
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        m = (pred >= lo) & (pred < hi)
        if m.any():
            out.append({"bin": f"{lo:.1f}-{min(hi, 1):.1f}", "n": int(m.sum()),
                        "predicted": round(float(pred[m].mean()), 3), "observed": round(float(y[m].mean()), 3)})
    return out
