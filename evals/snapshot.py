"""Every answer and search result of Q&A sets, as JSON, to show that a change of code leaves them as
they were (or exactly where it does not).

    python -m evals.snapshot --data-dir DIR --out before.json evals/sets/demo.yaml …
    (change the code)
    python -m evals.snapshot --data-dir DIR --out after.json evals/sets/demo.yaml …
    python -m evals.snapshot --compare before.json after.json
    python -m evals.snapshot --figures before.json after.json   (the replies' shape: docs/benchmarks.md)

Chunks are named by title and section, not by id, so a knowledge base built again from files in
another place compares equal. Scores are compared to a tolerance: the vector store's approximate
search gives the same question scores that differ in the fifth decimal between processes.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

from evals.qaset import load_qaset
from kb.answer.pipeline import Answerer, answer_to_dict
from kb.knowledge import KnowledgeBase
from kb.settings import Settings
from kb.types import Hit

TOLERANCE = 1e-3


def _named(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(f"{h.chunk.meta.get('title', '')}|{h.chunk.section}", round(h.score, 5)) for h in hits]


def snapshot(data_dir: Path, sets: list[Path]) -> dict[str, Any]:
    settings = Settings(data_dir=data_dir)
    out: dict[str, Any] = {}
    with KnowledgeBase.open(settings) as kb:
        answerer = Answerer(kb, settings)
        for path in sets:
            for item in load_qaset(path).items:
                answer = answerer.ask(item.question)
                d = answer_to_dict(answer)
                d.pop("latency_ms")
                for c in d["citations"]:
                    for where in ("chunk_id", "doc_id", "source"):
                        c.pop(where)
                d["hits"] = _named(answer.hits)
                d["features"] = {k: round(v, 5) for k, v in answer.features.items()}
                d["search"] = _named(kb.search(item.question, k=10))
                out[f"{path.name}:{item.id}"] = d
    return out


def differences(before: dict[str, Any], after: dict[str, Any], tolerance: float = TOLERANCE) -> list[str]:
    """What differs: a question missing on one side, or an answer, its citations, abstention, flags,
    confidence or the order of hits and search results; scores beyond the tolerance."""
    found = [f"{k}: only in one snapshot" for k in sorted(set(before) ^ set(after))]
    for k in sorted(set(before) & set(after)):
        b, a = before[k], after[k]
        for field in ("answer", "reply", "guidance", "citations", "abstained", "flags", "mode"):
            if b.get(field) != a.get(field):
                found.append(f"{k}: {field}")
        if abs(b["confidence"] - a["confidence"]) > tolerance:
            found.append(f"{k}: confidence {b['confidence']} → {a['confidence']}")
        for field in ("hits", "search"):
            if [n for n, _ in b[field]] != [n for n, _ in a[field]]:
                found.append(f"{k}: {field} order")
            elif any(abs(x - y) > tolerance for (_, x), (_, y) in zip(b[field], a[field], strict=True)):
                found.append(f"{k}: {field} scores")
    return found


_MARKER = re.compile(r"\s*\[\d+\]")


def _p90(values: list[int]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else float(values[0] if values else 0)


def reply_figures(shot: dict[str, Any]) -> dict[str, float]:
    """The shape of the answered (not withheld) replies: the share with guidance for the agent split
    out, the median length of what may be sent (characters, without [n] markers; a snapshot taken
    before the split counts its whole answer), the share with nothing to send, and the sources cited
    per reply (by the reply itself, and in all)."""
    answered = [d for d in shot.values() if not d["abstained"]]
    if not answered:
        return {"answered": 0}
    replies = [_MARKER.sub("", d["reply"] if "reply" in d else d["answer"]) for d in answered]
    in_reply = [sum(1 for c in d["citations"] if c.get("part", "reply") == "reply") for d in answered]
    return {
        "answered": len(answered),
        "with_guidance": round(sum(1 for d in answered if d.get("guidance")) / len(answered), 3),
        "nothing_to_send": round(sum(1 for r in replies if not r) / len(answered), 3),
        "median_reply_chars": statistics.median(len(r) for r in replies if r) if any(replies) else 0,
        "p90_reply_chars": _p90([len(r) for r in replies if r]),
        "sources_per_reply": round(statistics.mean(in_reply), 2),
        "sources_per_answer": round(statistics.mean(len(d["citations"]) for d in answered), 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="*", type=Path)
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    ap.add_argument("--figures", nargs="+", type=Path, metavar="SNAPSHOT")
    args = ap.parse_args(argv)
    if args.figures:
        for p in args.figures:
            print(p.name, json.dumps(reply_figures(json.loads(p.read_text(encoding="utf-8")))))
        return 0
    if args.compare:
        before, after = (json.loads(p.read_text(encoding="utf-8")) for p in args.compare)
        found = differences(before, after)
        print("\n".join(found) if found else f"the same: {len(before)} questions")
        return 1 if found else 0
    if not args.data_dir or not args.out or not args.sets:
        ap.error("give --data-dir, --out and at least one set (or --compare BEFORE AFTER)")
    shot = snapshot(args.data_dir, args.sets)
    args.out.write_text(json.dumps(shot, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    print(f"{len(shot)} questions → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
