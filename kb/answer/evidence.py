"""The evidence a reply stands on, and the two models that read it.

Features (EVIDENCE_FEATURES) are measured on every reply; two logistic models read them:
P(the knowledge base answers the question), which decides abstention below a threshold, and
confidence = P(the reply cites a right source). Their weights are data, not code: the models file
(evidence_models.json beside this module) holds the weights with how, when and on what they were
fitted and what they scored on data they were not fitted on (evals/ fits them).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kb.errors import ConfigError
from kb.search.rerank import log_odds
from kb.types import Hit

MODELS_FILE = Path(__file__).with_name("evidence_models.json")
LOCAL_MODELS_FILE = "evidence_models.json"  # in a data directory: written by `citedesk calibrate`

EVIDENCE_FEATURES = (
    # log-odds of the top hit's calibrated relevance (kb.search.rerank; kb.search.fusion.fuse without
    # it): the re-ranked score of a right article under a long question is often 0.01–0.05, and on
    # the log-odds scale those differ as much as 0.5 and 0.9 do (docs/answers.md)
    "top_logit",
    "similarity",  # e5 similarity of the question to the best answer sentence
    "lexical",  # share of the question's terms found in that sentence
    "unknown_name",  # 1 when the question names someone or something no document mentions
    "top_bm25",  # log(1 + the top hit's BM25 score in units of a rare term's IDF; kb.index.lexical)
    "english",  # 1 for an English question: its words reach Chinese sources only through the lexicon
    # how far the top hit leads the second, in log-odds (clipped to [0, 10]; 10 without a second):
    # two near-equal candidates (neighbouring articles, two products' rules) make a wrong citation
    # likelier on any knowledge base, keyed or not
    "margin",
)


def evidence_features(
    top: Hit, best_similarity: float, best_lexical: float, unknown_name: bool, lang: str, rare_idf: float,
    second: Hit | None = None,
) -> dict[str, float]:
    """The features both models read, by name. `rare_idf` is LexicalIndex.rare_term_idf(): raw BM25
    grows with the size of the index, the share does not."""
    return {
        "top_logit": float(log_odds(top.score)),
        "similarity": float(best_similarity),
        "lexical": float(best_lexical),
        "unknown_name": 1.0 if unknown_name else 0.0,
        "top_bm25": math.log1p(max(0.0, top.signals.get("bm25", 0.0)) / rare_idf),
        "english": 1.0 if lang == "en" else 0.0,
        "margin": 10.0 if second is None else float(min(10.0, max(0.0, log_odds(top.score) - log_odds(second.score)))),
    }


def logistic(weights: tuple[float, ...], values: tuple[float, ...]) -> float:
    z = weights[0] + sum(w * x for w, x in zip(weights[1:], values, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True)
class EvidenceModels:
    features: tuple[str, ...]
    answerable_weights: tuple[float, ...]
    confidence_weights: tuple[float, ...]
    threshold: float
    fitted: dict[str, Any] = field(default_factory=dict)  # how, when, on what; held-out scores

    def _values(self, features: dict[str, float]) -> tuple[float, ...]:
        return tuple(features.get(name, 0.0) for name in self.features)

    def answerable(self, features: dict[str, float]) -> float:
        """P(the knowledge base has an answer to the question)."""
        return logistic(self.answerable_weights, self._values(features))

    def confidence(self, features: dict[str, float]) -> float:
        """P(the reply cites a right source)."""
        return logistic(self.confidence_weights, self._values(features))


def parse_models(data: Any, where: str) -> EvidenceModels:
    try:
        features = tuple(str(f) for f in data["features"])
        answerable = tuple(float(w) for w in data["answerable"]["weights"])
        confidence = tuple(float(w) for w in data["confidence"]["weights"])
        threshold = float(data["answerable"].get("threshold", 0.5))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"evidence models {where}: malformed ({exc})") from exc
    unknown = set(features) - set(EVIDENCE_FEATURES)
    if unknown:
        raise ConfigError(f"evidence models {where}: unknown features {sorted(unknown)}")
    if len(answerable) != len(features) + 1 or len(confidence) != len(features) + 1:
        raise ConfigError(f"evidence models {where}: each model needs a bias and one weight per feature")
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"evidence models {where}: the threshold must be between 0 and 1")
    return EvidenceModels(features, answerable, confidence, threshold, dict(data.get("fitted") or {}))


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> EvidenceModels:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"evidence models {path} cannot be read: {exc}") from exc
    return parse_models(data, path)


def load_models(path: Path | None = None) -> EvidenceModels:
    """The models of `path`, or the shipped ones (read again when the file changes)."""
    p = Path(path) if path is not None else MODELS_FILE
    try:
        return _load(str(p), p.stat().st_mtime)
    except OSError as exc:
        raise ConfigError(f"evidence models file not found: {p}") from exc


def models_for(data_dir: Path | None) -> EvidenceModels:
    """The models a knowledge base answers with: those `citedesk calibrate` fitted on its own graded
    set (`<data dir>/evidence_models.json`) when there are, else the shipped ones."""
    local = Path(data_dir) / LOCAL_MODELS_FILE if data_dir is not None else None
    return load_models(local) if local is not None and local.is_file() else load_models()
