"""Fitted weights are data with their training record: what they were fitted on, when, by what,
and what they scored on data they were not fitted on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.answer.evidence import EVIDENCE_FEATURES, load_models
from kb.errors import ConfigError
from kb.search import weights
from kb.search.fusion import FUSION_FEATURES
from kb.search.rerank import RERANK_FEATURES

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "kb/search/fusion_weights.json", ROOT / "kb/search/rerank_weights.json", ROOT / "kb/answer/evidence_models.json"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_weights_file_says_how_when_and_on_what_it_was_fitted(path):
    fitted = json.loads(path.read_text(encoding="utf-8"))["fitted"]
    assert {"by", "date", "data", "held_out"} <= set(fitted) and all(str(v).strip() for v in fitted.values())


def test_weights_are_read_for_the_features_the_code_computes(tmp_path, monkeypatch):
    assert len(weights.load_weights("fusion", FUSION_FEATURES)) == len(FUSION_FEATURES) + 1
    assert len(weights.load_weights("rerank", RERANK_FEATURES)) == len(RERANK_FEATURES) + 1
    with pytest.raises(ConfigError, match="fitted for features"):
        weights.load_weights("rerank", RERANK_FEATURES[:-1])  # a file fitted on other features is refused
    models = load_models()
    assert set(models.features) <= set(EVIDENCE_FEATURES) and 0 < models.threshold < 1


def test_a_broken_models_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "models.json"
    bad.write_text(json.dumps({"features": ["top_logit"], "answerable": {"weights": [1.0]}, "confidence": {"weights": [1, 2]}}))
    with pytest.raises(ConfigError, match="a bias and one weight per feature"):
        load_models(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_models(bad)


def test_the_margin_feature_reads_how_far_the_top_hit_leads():
    from kb.answer.evidence import evidence_features
    from kb.types import Chunk, Hit

    top = Hit(Chunk("a", "d", "甲"), 0.9, {"bm25": 3.0})
    close = Hit(Chunk("b", "d", "乙"), 0.88, {"bm25": 3.0})
    far = Hit(Chunk("c", "d", "丙"), 0.05, {"bm25": 1.0})
    f = dict(best_similarity=0.8, best_lexical=0.5, unknown_name=False, lang="zh", rare_idf=5.0)
    assert evidence_features(top, second=close, **f)["margin"] < 0.3
    assert evidence_features(top, second=far, **f)["margin"] > 5
    assert evidence_features(top, **f)["margin"] == 10.0  # nothing else found
