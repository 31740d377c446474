"""Fitted weights of the search, kept as data files beside this module with how, when and on what
they were fitted and what they scored on questions they were not fitted on (evals/ fits them)."""

from __future__ import annotations

import json
from pathlib import Path

from kb.errors import ConfigError


def load_weights(name: str, features: tuple[str, ...]) -> tuple[float, ...]:
    """The weights (bias first) of `<name>_weights.json`, checked against the features the code
    computes, in order."""
    path = Path(__file__).with_name(f"{name}_weights.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        weights = tuple(float(w) for w in data["weights"])
        named = tuple(data["features"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path.name} cannot be read: {exc}") from exc
    if named != tuple(features) or len(weights) != len(features) + 1:
        raise ConfigError(f"{path.name} was fitted for features {list(named)}, not {list(features)}")
    return weights


def load_key_weights() -> tuple[float, float]:
    """(floor, weight) of the question-key evidence (kb.search.fusion.key_evidence), from the
    `key_evidence` entry of fusion_weights.json."""
    path = Path(__file__).with_name("fusion_weights.json")
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))["key_evidence"]
        floor, weight = float(entry["floor"]), float(entry["weight"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path.name}: key_evidence cannot be read: {exc}") from exc
    if not -1.0 <= floor <= 1.0 or weight < 0:
        raise ConfigError(f"{path.name}: key_evidence needs a floor in [-1, 1] and a weight ≥ 0")
    return floor, weight
