"""`citedesk eval` (Q&A sets through the answerer, reports, the CI gate) and `citedesk bench lecoqa`."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from api.cli.common import data_dir_option, emit_json, handle_errors, json_option, main, settings_for
from evals.harness import check_thresholds, parse_thresholds, run_eval
from evals.qaset import load_qaset
from evals.report import compare, load_runs, runs_from_records, write_report
from kb.errors import ConfigError, MissingExtraError
from kb.knowledge import KnowledgeBase
from kb.settings import Settings

HEADLINE = ("accuracy", "hit@1", "hit@5", "mrr", "key_point_coverage", "cited_expected",
            "answerable_abstained", "citation_precision",
            "abstention_precision", "abstention_recall", "latency_p50_ms", "latency_p95_ms")


def _records(settings: Settings) -> Any:
    """The records database when one exists in the data directory or CITEDESK_DATABASE_URL is set."""
    if not settings.database_url and not (Path(settings.data_dir) / "records.sqlite").exists():
        return None
    try:
        from kb.records import Records
    except ImportError:  # a build without the records package: runs live only in the report directory
        return None
    try:
        return Records.open(settings)
    except Exception as exc:  # noqa: BLE001 - the records DB is optional for an eval run
        click.echo(f"warning: records database not usable, runs are not stored there: {exc}", err=True)
        return None


def _store(records: Any, result: dict[str, Any], settings: Settings) -> int | None:
    from kb.records import settings_hash

    try:
        return records.save_eval_run(result, result["set"], snapshot_id=result.get("snapshot_id"),
                                     settings_hash=settings_hash(settings), actor="cli")
    except Exception as exc:  # noqa: BLE001 - reported; the run's results are still printed and written
        click.echo(f"warning: could not store the run in the records database: {exc}", err=True)
        return None


def _fmt(v: Any) -> str:
    return "n/a" if v is None else (f"{v:.0f}" if isinstance(v, float) and v >= 10 else f"{v:.3f}")


def _summary(result: dict[str, Any]) -> list[str]:
    o, cmp = result["overall"], result.get("compare") or {}
    parts = []
    for k in HEADLINE:
        d = cmp.get("deltas", {}).get(k)
        change = "" if not d or not d["delta"] else (f" ({d['delta']:+.0f})" if abs(d["delta"]) >= 10 else
                                                     f" ({d['delta']:+.3f})")
        parts.append(f"{k} {_fmt(o.get(k))}{change}")
    lines = [f"{result['set']}: {o['n']} questions, {sum(1 for q in result['per_question'] if q['correct'])} correct",
             "  " + " · ".join(parts)]
    for k in sorted(set(o) - set(HEADLINE) - {"n"}):
        if not k.startswith(("hit@", "ndcg", "recall", "mrr")):
            lines.append(f"  {k} {_fmt(o[k])}")
    for topic, s in result["per_topic"].items():
        lines.append(f"  topic {topic}: {s['n']} questions, accuracy {_fmt(s['accuracy'])}")
    failures = [q for q in result["per_question"] if not q["correct"]]
    for q in failures[:10]:
        lines.append(f"  ✗ {q['id']} {q['question']}: {q['failure']}")
    if len(failures) > 10:
        lines.append(f"  … and {len(failures) - 10} more failures (see the report)")
    for e in (result.get("ragas") or {}).get("errors", []):
        lines.append(f"  ragas: {e}")
    if cmp.get("newly_failing"):
        lines.append("  now failing: " + ", ".join(cmp["newly_failing"]))
    return lines


@main.command("eval")
@click.argument("sets", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write <set>.json/.md/.html here and keep the run history (runs/) for comparisons.")
@click.option("--fail-under", "fail_under", default=None, metavar="METRIC=VALUE,...",
              help="Exit 1 when a metric is below its threshold (latency_*: above), e.g. hit@5=0.95,accuracy=0.85.")
@click.option("--no-ragas", is_flag=True, help="Skip the ragas metrics.")
@json_option
@data_dir_option
@handle_errors
def eval_cmd(sets, report_dir, fail_under, no_ragas, as_json, data_dir):
    """Run Q&A sets (YAML, JSONL, CSV, XLSX) through the answerer and score them."""
    thresholds = parse_thresholds(fail_under)
    qasets = [load_qaset(p) for p in sets]  # every set is validated before anything runs
    settings = settings_for(data_dir)
    try:
        from kb.answer.pipeline import Answerer
    except ModuleNotFoundError as exc:
        raise ConfigError("answer composition (kb.answer.pipeline) is not available in this installation") from exc
    judge = None
    if not no_ragas:
        from evals.ragas_metrics import RagasScorer

        try:
            judge = RagasScorer(settings)
        except MissingExtraError as exc:
            raise MissingExtraError(f"{exc}; or run without them: --no-ragas") from exc
    results, failed_any = [], False
    if not settings.shared and not (Path(settings.data_dir) / "catalog.sqlite").exists():
        raise ConfigError(f"there is no knowledge base in {settings.data_dir}; ingest documents first "
                          "(citedesk ingest PATH --data-dir DIR, or citedesk demo build)")
    with KnowledgeBase.open(settings) as kb:
        if not kb.documents():
            raise ConfigError(f"the knowledge base in {settings.data_dir} is empty; ingest documents first "
                              "(citedesk ingest PATH, or citedesk demo build)")
        answerer = Answerer(kb, settings)
        records = _records(settings)
        for qs in qasets:
            def progress(i, n, name=qs.name):
                if not as_json and (i % 10 == 0 or i == n):
                    click.echo(f"  {name}: {i}/{n}", err=True)

            result = run_eval(qs, answerer, kb=kb, judge=judge, progress=progress)
            modes = Counter(q.get("mode") for q in result["per_question"] if q.get("mode"))
            result["mode"] = modes.most_common(1)[0][0] if modes else None
            result["snapshot_id"] = kb.snapshot_id
            history = load_runs(report_dir, qs.name) if report_dir else []
            if not history and records is not None:
                history = runs_from_records(records, qs.name)
            result["compare"] = compare(result, history[-1] if history else None)
            failed = check_thresholds(result["overall"], thresholds)
            result["gate"] = {"thresholds": thresholds, "failed": failed} if thresholds else None
            failed_any = failed_any or bool(failed)
            if records is not None:
                result["run_id"] = _store(records, result, settings)
            if report_dir:
                result["report"] = {k: str(v) for k, v in
                                    write_report(result, report_dir, result["compare"], history + [result]).items()}
            results.append(result)
    if as_json:
        emit_json(results[0] if len(results) == 1 else {"results": results, "passed": not failed_any})
    else:
        for result in results:
            for line in _summary(result):
                click.echo(line)
            for msg in (result.get("gate") or {}).get("failed", []):
                click.echo(f"FAILED {result['set']}: {msg}")
            if result.get("report"):
                click.echo(f"  report: {result['report']['html']}")
    if failed_any:
        if as_json:
            for result in results:
                for msg in (result.get("gate") or {}).get("failed", []):
                    click.echo(f"FAILED {result['set']}: {msg}", err=True)
        sys.exit(1)


@main.group()
def bench() -> None:
    """Public retrieval benchmarks."""


@bench.command("lecoqa")
@click.option("--corpora", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Corpora directory (default: CITEDESK_CORPORA_DIR).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N questions, on a slice.")
@json_option
@data_dir_option
@handle_errors
def bench_lecoqa(corpora, limit, as_json, data_dir):
    """Retrieval hit@1/5/10 and MRR@10 on LeCoQA (1,543 questions) through the knowledge base's search.

    The benchmark has its own knowledge base (default: <data dir>/bench/lecoqa, or
    <data dir>/bench/lecoqa-N with --limit N); it is built once and reused."""
    from evals import lecoqa

    base = settings_for(None)
    target = data_dir or Path(base.data_dir) / "bench" / (f"lecoqa-{limit}" if limit else "lecoqa")
    settings = base.model_copy(update={"data_dir": Path(target)})
    corpora_dir = Path(corpora) if corpora else Path(base.corpora_dir)
    questions, docs = lecoqa.corpus(corpora_dir, limit)

    def progress(label):
        def report(i, n):
            if not as_json and (i % 100 == 0 or i == n):
                click.echo(f"  {label}: {i}/{n}", err=True)
        return report

    with KnowledgeBase.open(settings, writer=True) as kb:
        built = lecoqa.build(kb, docs, progress=progress("documents"))
        result = lecoqa.run(kb, questions, progress=progress("questions"))
        result.update(data_dir=str(target), chunks=built["chunks"], build=built, limit=limit)
    if as_json:
        emit_json(result)
        return
    click.echo(f"LeCoQA: {result['questions']} questions, {result['chunks']} articles"
               + (f" (slice: --limit {limit})" if limit else ""))
    for k in ("hit@1", "hit@5", "hit@10", "mrr@10"):
        click.echo(f"  {k}: {result[k]:.4f}   (held-out half: {result['heldout'][k]:.4f})")
    click.echo(f"  search: {result['search_ms_mean']} ms a question · data: {target}")
