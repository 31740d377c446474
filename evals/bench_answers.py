"""Answer benchmarks.

    python -m evals.bench_answers [--data-dir DIR] [--set evals/sets/demo.yaml] [--repeat 3]
        p50/p95 latency of `citedesk ask` (extractive mode, the Answerer the CLI calls) on a KB
        (default: the demo KB, built first with `citedesk demo build --data-dir DIR`).

    python -m evals.bench_answers --calibrate --data-dir DIR --set evals/sets/regulations.yaml --set evals/sets/demo.yaml
        the evidence features of every question (abstention disabled), whether the reply cites an
        expected source, logistic fits of that outcome and of "answerable" on the features (the
        Answerer's CONFIDENCE_WEIGHTS and ANSWERABLE_WEIGHTS), the reliability tables, the
        abstention trade-off per threshold, and per set the abstention rates of a fit without that
        set (each set judged by weights that never saw it).

    python -m evals.bench_answers --calibrate --data-dir DIR --set ... --rows rows.json
    python -m evals.bench_answers --calibrate --from-rows regs.json --from-rows demo.json
        save the per-question rows, then fit on rows collected on different knowledge bases
        (the regulations sets on the statutes, the demo set on the demo KB).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from evals.fitting import fit_logistic
from evals.metrics import reliability, source_matches
from evals.qaset import load_qaset
from kb.answer.evidence import load_models
from kb.answer.pipeline import Answerer
from kb.knowledge import KnowledgeBase
from kb.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

MODELS = load_models()  # the shipped evidence models, as the answers were given


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def bench(data_dir: Path, set_path: Path, repeat: int = 3) -> dict:
    settings = Settings(data_dir=data_dir, llm_base_url=None, llm_model=None)
    qaset = load_qaset(set_path)
    questions = [it.question for it in qaset.items]
    with KnowledgeBase.open(settings) as kb:
        answerer = Answerer(kb, settings)
        started = time.perf_counter()
        answerer.ask(questions[0])  # model load and index warm-up are not a query's latency
        warmup_s = time.perf_counter() - started
        cold, warm = [], []
        for r in range(repeat):
            for q in questions:
                t = time.perf_counter()
                answerer.ask(q)
                (cold if r == 0 else warm).append((time.perf_counter() - t) * 1000)
    every = cold + warm
    return {
        "questions": len(questions),
        "repeat": repeat,
        "warmup_s": round(warmup_s, 2),
        "first_pass_p50_ms": round(percentile(cold, 50), 1),
        "first_pass_p95_ms": round(percentile(cold, 95), 1),
        "repeat_p50_ms": round(percentile(warm, 50), 1) if warm else None,
        "repeat_p95_ms": round(percentile(warm, 95), 1) if warm else None,
        "p50_ms": round(percentile(every, 50), 1),
        "p95_ms": round(percentile(every, 95), 1),
        "mean_ms": round(statistics.fmean(every), 1),
    }


def collect(data_dir: Path, set_paths: list[Path]) -> list[dict]:
    """Per question: features, answerable, and whether the reply cites an expected source.
    Questions that a rule abstains on (account requests, the company's practice with only statutes
    to go on, a legal question outside consumer credit) are left out."""
    settings = Settings(data_dir=data_dir, llm_base_url=None, llm_model=None, abstain_threshold=0.0)
    rows = []
    with KnowledgeBase.open(settings) as kb:
        answerer = Answerer(kb, settings)
        for set_path in set_paths:
            qaset = load_qaset(set_path)
            for item in qaset.items:
                a = answerer.ask(item.question)
                if {"account_lookup", "no_company_source", "out_of_scope"} & set(a.flags):
                    continue
                correct = item.answerable and any(
                    source_matches(c, s) for c in a.citations for s in item.expected_sources
                )
                rows.append({
                    "set": qaset.name, "id": item.id, "answerable": item.answerable, "correct": bool(correct),
                    "features": [a.features.get(name, 0.0) for name in MODELS.features],
                })
    return rows


def left_out(x: np.ndarray, target: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Out-of-sample predictions: each group (Q&A set) scored by a fit on the other groups."""
    pred = np.zeros(len(x))
    for g in dict.fromkeys(groups):
        out = groups == g
        w = fit_logistic(x[~out], target[~out])
        pred[out] = 1 / (1 + np.exp(-(w[0] + x[out] @ w[1:])))
    return pred


def tradeoff(rows: list[dict], conf: np.ndarray, thresholds=(0.3, 0.4, 0.5, 0.6, 0.7)) -> list[dict]:
    out = []
    ans = np.array([r["answerable"] for r in rows])
    cor = np.array([r["correct"] for r in rows])
    for t in thresholds:
        answered = conf >= t
        out.append({
            "threshold": t,
            "answerable_cited_right": round(float((answered & cor)[ans].mean()), 3),
            "answerable_abstained": round(float((~answered)[ans].mean()), 3),
            "unanswerable_abstained": round(float((~answered)[~ans].mean()), 3) if (~ans).any() else None,
        })
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=ROOT / "data" / "demo")
    p.add_argument("--set", type=Path, action="append", help="Q&A set (repeatable; default: the demo set)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--calibrate", action="store_true")
    p.add_argument("--rows", type=Path, help="with --calibrate: also write the per-question rows here (JSON)")
    p.add_argument("--from-rows", type=Path, action="append",
                   help="with --calibrate: fit on rows saved by --rows instead of asking (repeatable)")
    args = p.parse_args(argv)
    sets = args.set or [ROOT / "evals" / "sets" / "demo.yaml"]
    if args.calibrate and args.from_rows:
        calibrate([r for f in args.from_rows for r in json.loads(f.read_text(encoding="utf-8"))])
        return
    if not (args.data_dir / "catalog.sqlite").exists():
        raise SystemExit(f"no knowledge base in {args.data_dir}: run `citedesk demo build --data-dir {args.data_dir}`")
    if not args.calibrate:
        print(json.dumps(bench(args.data_dir, sets[0], args.repeat), indent=2))
        return
    rows = collect(args.data_dir, sets)
    if args.rows:
        args.rows.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    calibrate(rows)


def calibrate(rows: list[dict]) -> None:
    x = np.array([r["features"] for r in rows])
    y = np.array([r["correct"] for r in rows], dtype=float)
    ans = np.array([r["answerable"] for r in rows], dtype=float)

    def predict(w):
        return 1 / (1 + np.exp(-(w[0] + x @ w[1:])))

    w_conf, w_ans = fit_logistic(x, y), fit_logistic(x, ans)
    named = [dict(zip(MODELS.features, f, strict=True)) for f in x]
    current_conf = np.array([MODELS.confidence(f) for f in named])
    current_ans = np.array([MODELS.answerable(f) for f in named])
    groups = np.array([r["set"] for r in rows])
    names = list(dict.fromkeys(groups))

    def per_set(pred: np.ndarray) -> dict:
        return {n: tradeoff([r for r in rows if r["set"] == n], pred[groups == n], (MODELS.threshold,)) for n in names}

    report = {
        "questions": len(rows),
        "answerable": int(ans.sum()),
        "cited_right_without_abstaining": round(float(y[ans > 0].mean()), 3),
        "fitted_confidence_weights": [round(float(v), 2) for v in w_conf],
        "fitted_answerable_weights": [round(float(v), 2) for v in w_ans],
        "threshold": MODELS.threshold,
        "current": {
            "confidence_reliability": reliability(current_conf, y),
            "answerable_reliability": reliability(current_ans, ans),
            "tradeoff": tradeoff(rows, current_ans),
            "per_set": per_set(current_ans),
        },
        "refitted": {
            "confidence_reliability": reliability(predict(w_conf), y),
            "tradeoff": tradeoff(rows, predict(w_ans)),
            "per_set": per_set(predict(w_ans)),
        },
    }
    if len(names) > 1:  # each set judged by weights fitted without it
        report["set_left_out"] = per_set(left_out(x, ans, groups))
        report["set_left_out_confidence_reliability"] = reliability(left_out(x, y, groups), y)
    print(json.dumps(report, ensure_ascii=False, indent=1))

if __name__ == "__main__":
    main()
