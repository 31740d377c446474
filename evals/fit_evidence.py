"""Fit the evidence models (kb/answer/evidence_models.json) so that they hold on a corpus they never saw.

    python -m evals.fit_evidence --demo-dir DIR [--work DIR] [--write]

Three corpora, each a group that is left out in turn:

* ``statutes``: the seven regulations Q&A sets over the demo knowledge base (the 13 statutes);
* ``demo``: the demo set over the demo knowledge base (the demo company's documents);
* ``lecoqa-tuning``: LeCoQA's questions on its *tuning* laws (evals/own_docs_split.tuning_split:
  neither bundled nor unseen) over a knowledge base of those laws alone — documents with no keys,
  no lexicon entries and no sets written for them, as a company's own are.

The unseen laws of `citedesk bench own-docs` are never used here. Each question is asked with
abstention off; its features, whether it is answerable and whether the reply cites a right source
are the rows. Both models are logistic regressions (evals.fitting.fit_logistic) on all rows; the
report gives, per group, the scores of a fit made without that group (how the models do on a
corpus they never saw), and with --write the models file is replaced, with that report as its
held-out record.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import numpy as np

from evals.bench_answers import MODELS, collect, reliability
from evals.fitting import fit_logistic
from evals.own_docs import build, settings_for
from evals.own_docs_split import Split, tuning_split
from kb.answer.evidence import MODELS_FILE

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD = 0.7


def split_rows(data_dir: Path, split: Split, group: str) -> list[dict]:
    """Rows like evals.bench_answers.collect for LeCoQA questions (right = a gold article cited)."""
    from kb.answer.pipeline import Answerer
    from kb.knowledge import KnowledgeBase

    settings = settings_for(data_dir, None).model_copy(update={"abstain_threshold": 0.0})
    rows = []
    with KnowledgeBase.open(settings) as kb:
        answerer = Answerer(kb, settings)
        for q in split.questions:
            a = answerer.ask(q.question)
            if {"account_lookup", "no_company_source", "out_of_scope"} & set(a.flags) or not a.features:
                continue
            rows.append({"set": group, "id": f"lecoqa-{q.qid}", "answerable": True,
                         "correct": any(c.section in q.gold for c in a.citations),
                         "features": [a.features.get(name, 0.0) for name in MODELS.features]})
    return rows


def _predict(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(w[0] + x @ w[1:])))


def scores(rows: list[dict], p_answerable: np.ndarray, threshold: float) -> dict:
    ans = np.array([r["answerable"] for r in rows])
    right = np.array([r["correct"] for r in rows])
    replied = p_answerable >= threshold
    return {
        "questions": len(rows),
        "cited_right": round(float((replied & right)[ans].mean()), 3) if ans.any() else None,
        "answerable_abstained": round(float((~replied)[ans].mean()), 3) if ans.any() else None,
        "unanswerable_abstained": round(float((~replied)[~ans].mean()), 3) if (~ans).any() else None,
    }


def fit(rows: list[dict], threshold: float = THRESHOLD) -> dict:
    x = np.array([r["features"] for r in rows])
    ans = np.array([r["answerable"] for r in rows], dtype=float)
    right = np.array([r["correct"] for r in rows], dtype=float)
    groups = np.array([r["set"] for r in rows])
    names = list(dict.fromkeys(groups))
    report: dict = {"groups": {}, "left_out": {}}
    pa_out, pc_out = np.zeros(len(rows)), np.zeros(len(rows))
    for g in names:
        out = groups == g
        wa, wc = fit_logistic(x[~out], ans[~out]), fit_logistic(x[~out], right[~out])
        pa_out[out], pc_out[out] = _predict(wa, x[out]), _predict(wc, x[out])
        sub = [r for r, o in zip(rows, out, strict=True) if o]
        report["groups"][g] = len(sub)
        report["left_out"][g] = {**scores(sub, pa_out[out], threshold),
                                 "confidence_reliability": reliability(pc_out[out], right[out])}
    report["left_out_pooled"] = {**scores(rows, pa_out, threshold), "confidence_reliability": reliability(pc_out, right)}
    wa, wc = fit_logistic(x, ans), fit_logistic(x, right)
    report["answerable_weights"] = [round(float(v), 3) for v in wa]
    report["confidence_weights"] = [round(float(v), 3) for v in wc]
    return report


def write(report: dict, threshold: float) -> None:
    pooled = report["left_out_pooled"]
    data = json.loads(MODELS_FILE.read_text(encoding="utf-8"))
    data["answerable"] = {"weights": report["answerable_weights"], "threshold": threshold}
    data["confidence"] = {"weights": report["confidence_weights"]}
    data["fitted"] = {
        "by": "python -m evals.fit_evidence (evals.fitting.fit_logistic; each corpus left out in turn)",
        "date": date.today().isoformat(),
        "data": "three corpora: the seven regulations sets over the 13 statutes, the demo set over the demo "
                "knowledge base, LeCoQA's tuning laws over their articles alone "
                + json.dumps(report["groups"], ensure_ascii=False),
        "held_out": f"each corpus scored by weights fitted without it, pooled at threshold {threshold}: cited right "
                    f"{pooled['cited_right']}, answerable abstained {pooled['answerable_abstained']}, unanswerable "
                    f"abstained {pooled['unanswerable_abstained']} (per corpus: docs/benchmarks.md)",
    }
    tmp = MODELS_FILE.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(MODELS_FILE)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-dir", type=Path, required=True)
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--work", type=Path, default=ROOT / "data" / "bench" / "fit-evidence")
    ap.add_argument("--rows", type=Path, help="reuse (or write) the collected rows here")
    ap.add_argument("--threshold", type=float, default=THRESHOLD)
    ap.add_argument("--write", action="store_true", help="replace kb/answer/evidence_models.json")
    args = ap.parse_args(argv)
    if args.rows and args.rows.is_file():
        rows = json.loads(args.rows.read_text(encoding="utf-8"))
    else:
        sets = sorted((ROOT / "evals" / "sets").glob("regulations*.yaml"))
        rows = [dict(r, set="statutes") for r in collect(args.demo_dir, sets)]
        rows += [dict(r, set="demo") for r in collect(args.demo_dir, [ROOT / "evals" / "sets" / "demo.yaml"])]
        split = tuning_split(args.corpora)
        target = args.work / "lecoqa-tuning"
        build(target, split, None, None)
        rows += split_rows(target, split, "lecoqa-tuning")
        if args.rows:
            args.rows.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    report = fit(rows, args.threshold)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.write:
        write(report, args.threshold)


if __name__ == "__main__":
    main()
