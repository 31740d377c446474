"""`citedesk calibrate --qaset NAME`: the confidence recalibrated on a company's own graded set.

The shipped evidence models (kb/answer/evidence_models.json) read the same features on any knowledge
base, but how often a reply at a given score is right depends on the company's documents and
questions. A trainer's graded Q&A set measures exactly that: each item is asked with abstention
off, and the outcome is whether the reply cites an expected source.

The recalibration is Platt scaling on the shipped model's log-odds, σ(a + b·z), two numbers fitted
on the set, so a few dozen graded items suffice and the order of the scores is kept. It is written
as a new logistic model of the same features (σ(a + b·(w₀ + w·x)) = σ((a + b·w₀) + b·w·x)) to
`<data dir>/evidence_models.json`, which the Answerer reads in place of the shipped one. The
answerability model is recalibrated the same way when the set has at least MIN_CLASS answerable and
MIN_CLASS unanswerable items (its target: the item is answerable); otherwise it is kept. The
report shows the reliability of the confidence before and after, and the abstention rates.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from evals.fitting import fit_logistic
from evals.metrics import reliability
from kb.answer.evidence import EvidenceModels

MIN_CLASS = 5
LOCAL_MODELS = "evidence_models.json"  # in the data directory (kb.answer.evidence.local_models)
SKIPPED_FLAGS = {"account_lookup", "no_company_source", "out_of_scope"}  # rule decisions, not the model's


@dataclass
class Outcome:
    features: dict[str, float]
    answerable: bool
    cited_right: bool


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def platt(scores: list[float], targets: list[bool]) -> tuple[float, float]:
    """(a, b ≥ 0) of σ(a + b·logit(score)) by log-loss (evals.fitting.fit_logistic), started from
    (0, 1), the model as shipped; a small ridge keeps a tiny set from making b extreme."""
    z = np.array([_logit(s) for s in scores])
    y = np.array(targets, dtype=float)
    a, b = fit_logistic(z[:, None], y, l2=1e-2, nonneg=True, start=np.array([0.0, 1.0]))
    return float(a), float(b)


def _scaled(weights: tuple[float, ...], a: float, b: float) -> tuple[float, ...]:
    # not rounded: with a small b, weights rounded to a few decimals would reorder close replies
    return (float(a + b * weights[0]), *[float(b * w) for w in weights[1:]])


def recalibrate(models: EvidenceModels, outcomes: list[Outcome], source: str) -> tuple[EvidenceModels, dict[str, Any]]:
    """The models recalibrated on `outcomes`, and what was done."""
    conf = [models.confidence(o.features) for o in outcomes]
    a, b = platt(conf, [o.cited_right for o in outcomes])
    confidence = _scaled(models.confidence_weights, a, b)
    answerable, note = models.answerable_weights, "kept: the set needs answerable and unanswerable items"
    n_ans = sum(o.answerable for o in outcomes)
    if n_ans >= MIN_CLASS and len(outcomes) - n_ans >= MIN_CLASS:
        pa, pb = platt([models.answerable(o.features) for o in outcomes], [o.answerable for o in outcomes])
        answerable, note = _scaled(models.answerable_weights, pa, pb), f"recalibrated: a={pa:.3f}, b={pb:.3f}"
    fitted = {
        "by": "citedesk calibrate (evals/calibrate.py: Platt scaling of the shipped models)",
        "date": date.today().isoformat(), "data": source, "items": len(outcomes),
        "confidence": f"a={a:.3f}, b={b:.3f}", "answerable": note, "shipped": models.fitted,
    }
    new = EvidenceModels(models.features, answerable, confidence, models.threshold, fitted)
    return new, fitted


def curve(models: EvidenceModels, outcomes: list[Outcome]) -> list[dict]:
    """The reliability curve of the models' confidence on the outcomes (evals.metrics.reliability)."""
    return reliability([models.confidence(o.features) for o in outcomes], [o.cited_right for o in outcomes])


def abstention(models: EvidenceModels, outcomes: list[Outcome], threshold: float) -> dict[str, Any]:
    ans = [o for o in outcomes if o.answerable]
    una = [o for o in outcomes if not o.answerable]
    return {
        "answerable_abstained": round(sum(models.answerable(o.features) < threshold for o in ans) / len(ans), 3) if ans else None,
        "unanswerable_abstained": round(sum(models.answerable(o.features) < threshold for o in una) / len(una), 3) if una else None,
    }


def models_json(models: EvidenceModels) -> dict[str, Any]:
    return {
        "about": "Evidence models recalibrated on this knowledge base's own graded set (citedesk calibrate).",
        "features": list(models.features),
        "answerable": {"weights": list(models.answerable_weights), "threshold": models.threshold},
        "confidence": {"weights": list(models.confidence_weights)},
        "fitted": models.fitted,
    }


def write_models(models: EvidenceModels, data_dir: Path) -> Path:
    """Write atomically: a half-written models file would stop every reply."""
    path = Path(data_dir) / LOCAL_MODELS
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(models_json(models), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def collect(answerer: Any, items: list[tuple[str, bool, Any]]) -> list[Outcome]:
    """(question, answerable, is_right(citation) → bool) → outcomes, asked with abstention off by
    the caller's answerer; replies a rule withheld (account requests, out of scope) are left out."""
    out = []
    for question, answerable, is_right in items:
        a = answerer.ask(question)
        if SKIPPED_FLAGS & set(a.flags) or not a.features:
            continue
        right = answerable and any(is_right(c) for c in a.citations)
        out.append(Outcome(dict(a.features), answerable, bool(right)))
    return out


def calibrate(answerer: Any, models: EvidenceModels, items: list[tuple[str, bool, Any]], source: str,
              data_dir: Path | None = None) -> dict[str, Any]:
    """Collect, recalibrate, report; with data_dir, write the recalibrated models there."""
    outcomes = collect(answerer, items)
    if len(outcomes) < 2 * MIN_CLASS:
        raise ValueError(f"calibration needs at least {2 * MIN_CLASS} graded questions with a reply; got {len(outcomes)}")
    new, fitted = recalibrate(models, outcomes, source)
    report = {
        "items": len(outcomes), "fitted": fitted,
        "before": {"reliability": curve(models, outcomes), **abstention(models, outcomes, models.threshold)},
        "after": {"reliability": curve(new, outcomes), **abstention(new, outcomes, new.threshold)},
    }
    if data_dir is not None:
        report["written"] = str(write_models(new, data_dir))
    return report
