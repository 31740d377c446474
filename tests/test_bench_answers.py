"""The calibration report of evals.bench_answers, fitted from saved rows (no knowledge base needed)."""

from __future__ import annotations

import json

import numpy as np

from evals.bench_answers import main
from kb.answer.evidence import EVIDENCE_FEATURES


def _rows(name: str, seed: int, n: int = 80) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        answerable = bool(i % 4)
        evidence = rng.normal(0.8 if answerable else 0.3, 0.15)  # the second feature carries the signal
        features = [float(rng.uniform(0, 1)), float(evidence)] + [float(rng.uniform(0, 1)) for _ in EVIDENCE_FEATURES[2:]]
        rows.append({"set": name, "id": f"{name}-{i}", "answerable": answerable,
                     "correct": answerable and evidence > 0.6, "features": features})
    return rows


def test_rows_from_two_knowledge_bases_are_fitted_together_and_each_set_is_scored_left_out(tmp_path, capsys):
    regs, demo = tmp_path / "regs.json", tmp_path / "demo.json"
    regs.write_text(json.dumps(_rows("regulations", 1)), encoding="utf-8")
    demo.write_text(json.dumps(_rows("demo", 2)), encoding="utf-8")
    main(["--calibrate", "--from-rows", str(regs), "--from-rows", str(demo)])
    report = json.loads(capsys.readouterr().out)
    assert report["questions"] == 160 and report["answerable"] == 120
    weights = report["fitted_answerable_weights"]
    assert len(weights) == 1 + len(EVIDENCE_FEATURES) and weights[2] > 5  # it learned which feature speaks
    assert set(report["set_left_out"]) == {"regulations", "demo"}
    left_out = report["set_left_out"]["demo"][0]
    assert left_out["answerable_abstained"] < 0.2 and left_out["unanswerable_abstained"] > 0.6


def test_a_single_set_has_no_left_out_figures(tmp_path, capsys):
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps(_rows("demo", 3)), encoding="utf-8")
    main(["--calibrate", "--from-rows", str(rows)])
    report = json.loads(capsys.readouterr().out)
    assert "set_left_out" not in report and report["refitted"]["per_set"]["demo"]
