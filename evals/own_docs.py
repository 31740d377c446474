"""`citedesk bench own-docs`: answers about documents nobody on the project wrote keys for.

CiteDesk is bought for a company's own documents: no question keys, no lexicon entries, no fitted
weights. This benchmark stands LeCoQA's **unseen** laws (evals/own_docs_split.py: a fixed hash rule,
never trained, fitted or keyed on) in for such documents and asks their lay questions in three
knowledge bases:

* ``alone``: the unseen laws' articles only;
* ``mixed``: the same articles added to the demo knowledge base (the demo company's documents and
  the 13 bundled statutes with their question keys);
* ``graded``: ``mixed`` after a company's trainers graded a third of the unseen questions
  (``Split.graded``): those questions become question keys of their expected articles and the
  calibration data of the confidence model (kb/answer/calibration.py); the other two thirds are
  scored, in every configuration, so the three columns are comparable.

Unanswerable near-domain questions (evals/sets/own_docs_unanswerable.yaml) are asked in each. Per
configuration: hit@1/hit@5 of the search, replies citing a right article, answerable and
unanswerable questions abstained on, how often a reply with confidence ≥ 0.8 cites a right article,
and the reliability of the confidence. Results go to stdout as JSON (and `--out FILE`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.lecoqa import Question
from evals.metrics import reliability
from evals.own_docs_split import Split, unseen_split
from evals.qaset import load_qaset
from kb.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
UNANSWERABLE_SET = ROOT / "evals" / "sets" / "own_docs_unanswerable.yaml"
HIGH = 0.8  # "a confident reply": the bar


@dataclass
class Row:
    qid: str
    answerable: bool
    rank: int | None  # 1-based rank of the first right article among the first 5 hits
    cited_right: bool
    abstained: bool
    confidence: float
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def settings_for(data_dir: Path, bundles: str | None) -> Settings:
    kwargs: dict[str, Any] = {"data_dir": data_dir, "llm_base_url": None, "llm_model": None}
    if bundles is not None:
        kwargs["bundles"] = bundles
    return Settings(**kwargs)


def build(target: Path, split: Split, base: Path | None, bundles: str | None) -> None:
    """A knowledge base in `target`: a copy of `base` (or empty) plus the unseen laws' articles."""
    from kb.knowledge import KnowledgeBase

    if target.exists():
        shutil.rmtree(target)
    if base is not None:
        shutil.copytree(base, target, ignore=shutil.ignore_patterns("*.lock", "records*"))
    with KnowledgeBase.open(settings_for(target, bundles), writer=True) as kb:
        for doc, chunks in split.documents:
            kb.upsert_document(doc, [dataclasses.replace(c) for c in chunks])


def ask_all(data_dir: Path, bundles: str | None, questions: list[Question], unanswerable: list[str]) -> list[Row]:
    from kb.answer.pipeline import Answerer
    from kb.knowledge import KnowledgeBase

    settings = settings_for(data_dir, bundles)
    rows = []
    with KnowledgeBase.open(settings) as kb:
        answerer = Answerer(kb, settings)
        for q in questions:
            hits = kb.search(q.question, k=5)
            rank = next((i + 1 for i, h in enumerate(hits) if h.chunk.section in q.gold), None)
            a = answerer.ask(q.question)
            right = not a.abstained and any(c.section in q.gold for c in a.citations)
            rows.append(Row(f"lecoqa-{q.qid}", True, rank, right, a.abstained, a.confidence, a.abstain_reason))
        for i, text in enumerate(unanswerable):
            a = answerer.ask(text)
            rows.append(Row(f"u-{i + 1}", False, None, False, a.abstained, a.confidence, a.abstain_reason))
    return rows


def summarise(rows: list[Row]) -> dict[str, Any]:
    ans = [r for r in rows if r.answerable]
    una = [r for r in rows if not r.answerable]
    replies = [r for r in ans if not r.abstained]
    confident = [r for r in replies if r.confidence >= HIGH]
    n = max(1, len(ans))
    return {
        "questions": len(ans),
        "hit@1": round(sum(r.rank == 1 for r in ans) / n, 3),
        "hit@5": round(sum(r.rank is not None for r in ans) / n, 3),
        "cited_right": round(sum(r.cited_right for r in ans) / n, 3),
        "answerable_abstained": round(sum(r.abstained for r in ans) / n, 3),
        "unanswerable_questions": len(una),
        "unanswerable_abstained": round(sum(r.abstained for r in una) / max(1, len(una)), 3),
        "replies": len(replies),
        "replies_cited_right": round(sum(r.cited_right for r in replies) / max(1, len(replies)), 3),
        "confident_replies": len(confident),
        "confident_cited_right": round(sum(r.cited_right for r in confident) / len(confident), 3) if confident else None,
        "reliability": reliability([r.confidence for r in replies], [r.cited_right for r in replies]),
    }


def run(corpora: Path, demo_dir: Path, work: Path, bundles: str | None = None,
        configurations: tuple[str, ...] = ("alone", "mixed", "graded")) -> dict[str, Any]:
    split = unseen_split(corpora)
    scored = split.scored()
    unanswerable = [it.question for it in load_qaset(UNANSWERABLE_SET).items]
    out: dict[str, Any] = {
        "unseen_laws": len(split.laws), "unseen_articles": sum(len(c) for _, c in split.documents),
        "scored_questions": len(scored), "graded_questions": len(split.graded()),
        "unanswerable_questions": len(unanswerable),
    }
    for name in configurations:
        t0 = time.perf_counter()
        target = work / name
        build(target, split, None if name == "alone" else demo_dir, bundles)
        if name == "graded":
            out["calibration"] = grade(target, bundles, split)
        rows = ask_all(target, bundles, scored, unanswerable)
        out[name] = summarise(rows)
        out[name]["seconds"] = round(time.perf_counter() - t0)
        (work / f"{name}.rows.json").write_text(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=1),
                                                encoding="utf-8")
    return out


def grade(target: Path, bundles: str | None, split: Split) -> dict[str, Any]:
    """What a company's trainers' graded third gives: first the confidence recalibrated on their
    replies (`citedesk calibrate`; before their keys exist, which would make them look easy), then
    their questions as keys of their expected articles (`citedesk keys from-qaset`)."""
    from evals.calibrate import calibrate
    from kb.answer.pipeline import Answerer
    from kb.keys import add_keys
    from kb.knowledge import KnowledgeBase

    settings = settings_for(target, bundles)
    graded = split.graded()
    with KnowledgeBase.open(settings.model_copy(update={"abstain_threshold": 0.0})) as kb:
        answerer = Answerer(kb, kb.settings)
        items = [(q.question, True, lambda c, gold=q.gold: c.section in gold) for q in graded]
        report = calibrate(answerer, answerer.models, items, "own-docs: the graded third", data_dir=target)
    with KnowledgeBase.open(settings, writer=True) as kb:
        by_section = {c.section: c.chunk_id for doc, _ in split.documents for c in kb.chunks_of(doc.doc_id)}
        keys = [(by_section[g], q.question, f"qaset:own-docs#lecoqa-{q.qid}")
                for q in graded for g in sorted(q.gold) if g in by_section]
        report["keys_added"] = len(add_keys(kb, keys, by="own-docs benchmark"))
    return report


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    ap.add_argument("--demo-dir", type=Path, required=True, help="a demo knowledge base (`citedesk demo build --data-dir DIR`)")
    ap.add_argument("--work", type=Path, default=ROOT / "data" / "bench" / "own-docs")
    ap.add_argument("--bundles", default=None, help="CITEDESK_BUNDLES for the runs (default: the product's)")
    ap.add_argument("--only", default="alone,mixed,graded")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    result = run(args.corpora, args.demo_dir, args.work, args.bundles, tuple(args.only.split(",")))
    text = json.dumps(result, ensure_ascii=False, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
