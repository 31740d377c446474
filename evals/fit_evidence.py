"""Fit the evidence models (kb/answer/evidence_models.json) so that they hold on a corpus they never saw.

    python -m evals.fit_evidence --demo-dir DIR [--statutes-dir DIR] [--tuning-mixed] [--work DIR] [--write]

Three corpora, in three or four groups, each left out in turn:

* ``statutes``: the seven regulations Q&A sets over the 13 statutes with the seed regulation;
* ``demo``: the demo set over the demo knowledge base (the demo company's documents);
* ``lecoqa-tuning``: LeCoQA's questions on its *tuning* laws (evals/own_docs_split.tuning_split:
  neither bundled nor unseen) over a knowledge base of those laws alone — documents with no keys,
  no lexicon entries and no sets written for them, as a company's own are;
* ``lecoqa-tuning-mixed`` (with --tuning-mixed): the same questions over those laws added to a copy
  of the demo knowledge base, unkeyed documents beside the keyed statutes and the demo company's
  documents: how a company's own documents are usually deployed.

The unseen laws of `citedesk bench own-docs` are never used here. Each question is asked with
abstention off; its features, whether it is answerable and whether the reply cites a right source
are the rows. Both models are logistic regressions (evals.fitting.fit_logistic) on all rows; the
report gives, per group, the scores of fits made without it (how the models do on a corpus they
never saw), and --write replaces the confidence model in the models file, with that report as its
held-out record (--answerable-too: the answerability model as well). What a fit leaves out is a
row's *unit*: its group, except for LeCoQA's rows, whose unit is one half of the tuning laws (by a
hash of the law's name) in both configurations at once, so that no question is scored by a fit
that saw it asked over another knowledge base.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from datetime import date
from pathlib import Path

import numpy as np

from evals.bench_answers import reliability
from evals.fitting import fit_logistic
from evals.lecoqa import law_of
from evals.metrics import source_matches
from evals.own_docs import build, settings_for
from evals.own_docs_split import Split, tuning_split
from evals.qaset import load_qaset
from kb.answer.evidence import EVIDENCE_FEATURES, MODELS_FILE

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD = 0.65  # the shipped threshold (docs/answers.md, "Refitted 2026-12-07")


RULED = {"account_lookup", "no_company_source", "out_of_scope"}  # a rule decides these, not the models


def rows_for(data_dir: Path, items: list[tuple[str, str, bool, object]], group: str) -> list[dict]:
    """(id, question, answerable, is_right(citation)) asked with abstention off → rows of every
    EVIDENCE_FEATURES value, whether answerable and whether the reply cites a right source."""
    from kb.answer.pipeline import Answerer
    from kb.knowledge import KnowledgeBase

    settings = settings_for(data_dir, None).model_copy(update={"abstain_threshold": 0.0})
    rows = []
    with KnowledgeBase.open(settings) as kb:
        answerer = Answerer(kb, settings)
        for qid, question, answerable, is_right in items:
            a = answerer.ask(question)
            if RULED & set(a.flags) or not a.features:
                continue
            rows.append({"set": group, "id": qid, "answerable": answerable,
                         "correct": answerable and any(is_right(c) for c in a.citations),
                         "features": [a.features.get(name, 0.0) for name in EVIDENCE_FEATURES]})
    return rows


def set_items(paths: list[Path]) -> list[tuple[str, str, bool, object]]:
    return [(it.id, it.question, it.answerable,
             lambda c, src=tuple(it.expected_sources): any(source_matches(c, e) for e in src))
            for p in paths for it in load_qaset(p).items]


def law_half(law: str) -> str:
    """The unit a LeCoQA row is left out with: one of two halves of the laws, fixed by the name.
    The second byte of the hash: the first decides which laws are unseen (evals/own_docs_split.py),
    so among the tuning laws it is even for most of them and would put nearly all in one half."""
    return f"lecoqa-laws-{hashlib.sha256(law.encode('utf-8')).digest()[1] % 2}"


def unit_of(row: dict) -> str:
    """What a fit scoring this row leaves out: its law's half for a LeCoQA row, else its group."""
    return law_half(row["law"]) if row.get("law") else row["set"]


def split_rows(data_dir: Path, split: Split, group: str) -> list[dict]:
    """Rows for LeCoQA questions (right = a gold article cited), each with its law."""
    items = [(f"lecoqa-{q.qid}", q.question, True, lambda c, gold=q.gold: c.section in gold) for q in split.questions]
    law = {f"lecoqa-{q.qid}": min(law_of(g) for g in q.gold) for q in split.questions}
    return [{**r, "law": law[r["id"]]} for r in rows_for(data_dir, items, group)]


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


def fit(rows: list[dict], threshold: float = THRESHOLD, answerable_groups: set[str] | None = None) -> dict:
    """Both models on all rows, and each group scored by fits without it: every row is predicted by
    a fit made without its unit (`unit_of`: its law's half, else its group). The answerability model learns only from
    `answerable_groups` (default: every group): a corpus whose questions are all answerable teaches
    it nothing about questions a knowledge base cannot answer, only to answer more; a group outside
    them is scored by the fit on all of them (it is held out as it is)."""
    x = np.array([r["features"] for r in rows])
    ans = np.array([r["answerable"] for r in rows], dtype=float)
    right = np.array([r["correct"] for r in rows], dtype=float)
    groups = np.array([r["set"] for r in rows])
    units = np.array([unit_of(r) for r in rows])
    names = list(dict.fromkeys(groups))
    taught = np.isin(groups, sorted(answerable_groups)) if answerable_groups else np.ones(len(rows), dtype=bool)
    if not taught.any():
        raise ValueError(f"no rows of the groups {sorted(answerable_groups or [])} to fit the answerability model on")
    report: dict = {"groups": {}, "left_out": {}, "answerable_from": sorted(set(groups[taught]))}
    wa_all = fit_logistic(x[taught], ans[taught])
    pa_out, pc_out = np.zeros(len(rows)), np.zeros(len(rows))
    for u in dict.fromkeys(units):
        out = units == u
        wa = fit_logistic(x[taught & ~out], ans[taught & ~out]) if (taught & out).any() else wa_all
        wc = fit_logistic(x[~out], right[~out])
        pa_out[out], pc_out[out] = _predict(wa, x[out]), _predict(wc, x[out])
    for g in names:
        out = groups == g
        sub = [r for r, o in zip(rows, out, strict=True) if o]
        report["groups"][g] = len(sub)
        report["left_out"][g] = {**scores(sub, pa_out[out], threshold),
                                 "confidence_reliability": reliability(pc_out[out], right[out])}
    report["left_out_pooled"] = {**scores(rows, pa_out, threshold), "confidence_reliability": reliability(pc_out, right)}
    report["answerable_weights"] = [round(float(v), 3) for v in wa_all]
    report["confidence_weights"] = [round(float(v), 3) for v in fit_logistic(x, right)]
    return report


def write(report: dict, threshold: float, answerable_too: bool = False) -> None:
    """Replace the confidence model (and with answerable_too the answerability model; otherwise the
    shipped one is kept, 0 for a feature it did not read)."""
    pooled = report["left_out_pooled"]
    data = json.loads(MODELS_FILE.read_text(encoding="utf-8"))
    if answerable_too:
        data["answerable"] = {"weights": report["answerable_weights"], "threshold": threshold}
    else:
        old = dict(zip(data["features"], data["answerable"]["weights"][1:], strict=True))
        data["answerable"]["weights"] = [data["answerable"]["weights"][0], *[old.get(f, 0.0) for f in EVIDENCE_FEATURES]]
    data["features"] = list(EVIDENCE_FEATURES)
    data["confidence"] = {"weights": report["confidence_weights"]}
    data["fitted"] = {
        "by": "python -m evals.fit_evidence --write"
              + (" --tuning-mixed" if "lecoqa-tuning-mixed" in report["groups"] else "")
              + (" --answerable-too --answerable-from " + ",".join(report["answerable_from"]) if answerable_too else "")
              + f" --threshold {threshold} (evals.fitting.fit_logistic; each corpus left out in turn)",
        "date": date.today().isoformat(),
        "data": "the seven regulations sets over the 13 statutes, the demo set over the demo knowledge base, "
                "LeCoQA's tuning laws over their articles alone"
                + (" and beside the demo knowledge base" if "lecoqa-tuning-mixed" in report["groups"] else "")
                + "; LeCoQA rows left out by halves of the laws in every configuration at once "
                + json.dumps(report["groups"], ensure_ascii=False)
                + ("; the answerability model from " + ", ".join(report["answerable_from"]) if answerable_too else
                   "; the answerability model kept (the abstention figures below are of a refit on these rows)"),
        "held_out": f"each corpus scored by weights fitted without it (LeCoQA: without its half of the laws), pooled at "
                    f"threshold {threshold}: cited right "
                    f"{pooled['cited_right']}, answerable abstained {pooled['answerable_abstained']}, unanswerable "
                    f"abstained {pooled['unanswerable_abstained']}; per corpus "
                    + json.dumps({g: {k: v for k, v in d.items() if k != "confidence_reliability"}
                                  for g, d in report["left_out"].items()}, ensure_ascii=False)
                    + "; replies at confidence >= 0.8 citing a right source, per corpus "
                    + json.dumps({g: next((b["observed"] for b in d["confidence_reliability"] if b["bin"] == "0.8-1.0"), None)
                                  for g, d in report["left_out"].items()})
                    + " (docs/benchmarks.md)",
    }
    tmp = MODELS_FILE.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(MODELS_FILE)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-dir", type=Path, required=True)
    ap.add_argument("--statutes-dir", type=Path, help="the 13 statutes with the seed regulation (default: the demo dir)")
    ap.add_argument("--answerable-too", action="store_true", help="with --write, replace the answerability model too")
    ap.add_argument("--answerable-from", default=None,
                    help="groups the answerability model learns from, comma-separated (default: all): statutes,demo")
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--work", type=Path, default=ROOT / "data" / "bench" / "fit-evidence")
    ap.add_argument("--rows", type=Path, help="reuse (or write) the collected rows here")
    ap.add_argument("--tuning-mixed", action="store_true",
                    help="also the tuning laws' questions over their articles added to a copy of the demo knowledge base")
    ap.add_argument("--threshold", type=float, default=THRESHOLD)
    ap.add_argument("--write", action="store_true", help="replace kb/answer/evidence_models.json")
    args = ap.parse_args(argv)
    if args.rows and args.rows.is_file():
        rows = json.loads(args.rows.read_text(encoding="utf-8"))
    else:
        sets = sorted((ROOT / "evals" / "sets").glob("regulations*.yaml"))
        rows = rows_for(args.statutes_dir or args.demo_dir, set_items(sets), "statutes")
        rows += rows_for(args.demo_dir, set_items([ROOT / "evals" / "sets" / "demo.yaml"]), "demo")
        split = tuning_split(args.corpora)
        target = args.work / "lecoqa-tuning"
        build(target, split, None, None)
        rows += split_rows(target, split, "lecoqa-tuning")
        if args.tuning_mixed:
            target = args.work / "lecoqa-tuning-mixed"
            build(target, split, args.demo_dir, None)
            rows += split_rows(target, split, "lecoqa-tuning-mixed")
        if args.rows:
            args.rows.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    report = fit(rows, args.threshold, set(args.answerable_from.split(",")) if args.answerable_from else None)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.write:
        write(report, args.threshold, args.answerable_too)


if __name__ == "__main__":
    main()
