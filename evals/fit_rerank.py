"""Fit and measure the second-stage ranking (kb/search/rerank.py) on graded Q&A sets.

    python -m evals.fit_rerank --data-dir DIR --set evals/sets/regulations.yaml ... [--rows pools.json]
        per answerable question, the pool a search ranks (kb.search.retriever.HybridRetriever.pool: the
        3k + 10 best fused candidates) with its RERANK_FEATURES and which candidates are an expected
        source; then the report below.

    python -m evals.fit_rerank --from-rows regs.json --from-rows demo.json
        the report on pools collected on different knowledge bases (the regulations sets on the
        statutes, the demo set on the demo KB).

The report gives, per set, hit@1 and hit@5 within the pool (before near-duplicate removal) for the
fused order, for the shipped RERANK_WEIGHTS, and for weights fitted without that set (each set
ranked by weights that never saw it), and the weights fitted on every set.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from evals.fitting import fit_rerank
from evals.metrics import source_matches
from evals.qaset import load_qaset
from kb.knowledge import KnowledgeBase
from kb.search.rerank import RERANK_WEIGHTS, rerank, rerank_features
from kb.settings import Settings
from kb.text.pii import mask_pii, without_personal_numbers


def collect(data_dir: Path, set_paths: list[Path]) -> list[dict]:
    """One row per answerable question with expected sources: its pool's features and gold flags."""
    settings = Settings(data_dir=data_dir, llm_base_url=None, llm_model=None, rerank=True)
    rows = []
    with KnowledgeBase.open(settings) as kb:
        for set_path in set_paths:
            qaset = load_qaset(set_path)
            for item in qaset.items:
                if not item.answerable or not item.expected_sources:
                    continue
                # searched as the Answerer searches it (kb.answer.pipeline.Answerer.ask)
                query = without_personal_numbers(mask_pii(item.question).text)
                pool = kb.retriever.pool(query, settings.top_k)
                if pool is None:
                    continue
                x = rerank_features(pool.fused, pool.sentence, pool.text, pool.bm25, pool.key)
                gold = [any(source_matches(c, s) for s in item.expected_sources) for c in pool.chunks]
                rows.append({"set": qaset.name, "id": item.id, "features": x.tolist(), "gold": gold})
    return rows


def collect_split(data_dir: Path, questions: list, group: str) -> list[dict]:
    """Rows like `collect` for LeCoQA questions (gold = their articles), e.g. the tuning laws' in a
    knowledge base that also holds the keyed statutes: where a key must not win by lay wording."""
    settings = Settings(data_dir=data_dir, llm_base_url=None, llm_model=None, rerank=True)
    rows = []
    with KnowledgeBase.open(settings) as kb:
        for q in questions:
            pool = kb.retriever.pool(without_personal_numbers(mask_pii(q.question).text), settings.top_k)
            if pool is None:
                continue
            x = rerank_features(pool.fused, pool.sentence, pool.text, pool.bm25, pool.key)
            rows.append({"set": group, "id": f"lecoqa-{q.qid}", "features": x.tolist(),
                         "gold": [c.section in q.gold for c in pool.chunks]})
    return rows


def hits_at(rows: list[dict], scores: list[np.ndarray]) -> dict:
    """hit@1, hit@5 and whether the gold is in the pool at all, over rows ranked by scores."""
    h1 = h5 = inpool = 0
    for row, s in zip(rows, scores, strict=True):
        gold = np.array(row["gold"], dtype=bool)
        order = np.argsort(-s, kind="stable")
        h1 += bool(gold[order[:1]].any())
        h5 += bool(gold[order[:5]].any())
        inpool += bool(gold.any())
    n = max(1, len(rows))
    return {"n": len(rows), "hit@1": round(h1 / n, 3), "hit@5": round(h5 / n, 3), "in_pool": round(inpool / n, 3)}


def pools(rows: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.array(r["features"]), np.array(r["gold"], dtype=bool)) for r in rows]


def report(rows: list[dict]) -> dict:
    names = list(dict.fromkeys(r["set"] for r in rows))
    fused = [np.array(r["features"])[:, 0] for r in rows]  # the fused logit: the fusion's own order
    shipped = [rerank(np.array(r["features"]), RERANK_WEIGHTS) for r in rows]
    left_out: list[np.ndarray | None] = [None] * len(rows)
    for name in names if len(names) > 1 else []:
        w = fit_rerank(pools([r for r in rows if r["set"] != name]))
        for i, r in enumerate(rows):
            if r["set"] == name:
                left_out[i] = rerank(np.array(r["features"]), w)
    out: dict = {"fitted_weights": list(fit_rerank(pools(rows))), "shipped_weights": list(RERANK_WEIGHTS), "sets": {}}
    for name in [*names, "all"]:
        idx = [i for i, r in enumerate(rows) if name in ("all", r["set"])]
        sub = [rows[i] for i in idx]
        entry = {"fused": hits_at(sub, [fused[i] for i in idx]), "shipped": hits_at(sub, [shipped[i] for i in idx])}
        if all(left_out[i] is not None for i in idx):
            entry["set_left_out"] = hits_at(sub, [left_out[i] for i in idx])
        out["sets"][name] = entry
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--set", type=Path, action="append", default=[])
    p.add_argument("--rows", type=Path, help="also write the collected rows here (JSON)")
    p.add_argument("--tuning-mixed", type=Path,
                   help="also LeCoQA's tuning laws (evals/own_docs_split.py) in a knowledge base holding them beside "
                        "the --data-dir one (built here once from a copy of it)")
    p.add_argument("--corpora", type=Path, default=Path(__file__).resolve().parent.parent.parent / "shared" / "corpora")
    p.add_argument("--from-rows", type=Path, action="append", help="report on rows saved by --rows (repeatable)")
    args = p.parse_args(argv)
    if args.from_rows:
        rows = [r for f in args.from_rows for r in json.loads(f.read_text(encoding="utf-8"))]
    else:
        if args.data_dir is None or not (args.data_dir / "catalog.sqlite").exists():
            raise SystemExit("--data-dir must name a built knowledge base (or pass --from-rows)")
        if not args.set:
            raise SystemExit("name at least one --set")
        rows = collect(args.data_dir, args.set)
        if args.tuning_mixed:
            from evals.own_docs import build
            from evals.own_docs_split import tuning_split

            split = tuning_split(args.corpora)
            if not (args.tuning_mixed / "catalog.sqlite").exists():
                build(args.tuning_mixed, split, args.data_dir, None)
            rows += collect_split(args.tuning_mixed, split.questions, "lecoqa-tuning (mixed)")
        if args.rows:
            args.rows.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(report(rows), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
