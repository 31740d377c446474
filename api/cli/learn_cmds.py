"""`citedesk question-keys` (keys from a company's own use, with their origin), `citedesk calibrate`
(the confidence recalibrated on a graded set) and `citedesk bench own-docs`."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.common import data_dir_option, emit_json, handle_errors, json_option, main, settings_for
from kb.errors import ValidationError
from kb.knowledge import KnowledgeBase


def _load_set(path: Path):
    from evals.qaset import load_qaset

    return load_qaset(path)


@main.group("question-keys")
def question_keys() -> None:
    """Question keys added from graded Q&A sets, accepted replies and trainers, with their origin."""


@question_keys.command("list")
@click.option("--origin", default=None, help="Only keys of this origin, e.g. qaset:demo or qaset:demo#demo-001.")
@json_option
@data_dir_option
@handle_errors
def keys_list(origin, as_json, data_dir):
    """Every added key: the document section it belongs to, the question, its origin, who added it and when."""
    from kb.keys import list_keys

    with KnowledgeBase.open(settings_for(data_dir)) as kb:
        keys = list_keys(kb, origin)
    if as_json:
        emit_json([k.as_dict() for k in keys])
        return
    for k in keys:
        click.echo(f"{k.origin}\t{k.section}\t{k.question}\t{k.added_by} {k.added_at}")
    click.echo(f"{len(keys)} key(s)", err=True)


@question_keys.command("from-qaset")
@click.argument("qaset", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@json_option
@data_dir_option
@handle_errors
def keys_from_qaset(qaset, as_json, data_dir):
    """Add the question of every answerable item of a graded Q&A set (YAML, JSONL, CSV, XLSX) as a key of
    the chunk its expected source names (origin qaset:<set name>#<item id>)."""
    from evals.qaset_keys import key_items
    from kb.keys import add_keys

    qs = _load_set(qaset)
    with KnowledgeBase.open(settings_for(data_dir), writer=True) as kb:
        items, missing = key_items(kb, qs)
        added = add_keys(kb, items, by="cli")
    result = {"set": qs.name, "keys_added": len(added), "items_without_source": missing}
    if as_json:
        emit_json(result)
        return
    click.echo(f"{len(added)} key(s) added from {qs.name}; "
               f"{len(missing)} item(s) whose expected sources are not in the knowledge base")


@question_keys.command("remove")
@click.argument("origin")
@json_option
@data_dir_option
@handle_errors
def keys_remove(origin, as_json, data_dir):
    """Remove every added key of ORIGIN (e.g. qaset:demo, or one item: qaset:demo#demo-001) and its vectors."""
    from kb.keys import remove_keys

    with KnowledgeBase.open(settings_for(data_dir), writer=True) as kb:
        n = remove_keys(kb, origin)
    emit_json({"origin": origin, "removed": n}) if as_json else click.echo(f"{n} key(s) removed")


@question_keys.command("generate")
@click.option("--per-chunk", type=click.IntRange(1, 10), default=3, show_default=True, help="Questions per chunk.")
@click.option("--doc", "doc_ids", multiple=True, help="Only these document ids (repeatable; default: all).")
@json_option
@data_dir_option
@handle_errors
def keys_generate(per_chunk, doc_ids, as_json, data_dir):
    """Generate customer questions for each chunk with the configured LLM (CITEDESK_LLM_BASE_URL, _MODEL)
    and add them as keys marked generated:<model> (doc2query); chunks that have them already are skipped."""
    from ingest.doc2query import generate_keys
    from kb.answer.llm import LLMComposer

    settings = settings_for(data_dir)
    llm = LLMComposer(settings)  # ConfigError without an endpoint
    with KnowledgeBase.open(settings, writer=True) as kb:
        counts = generate_keys(kb, llm, per_chunk, list(doc_ids) or None)
    if as_json:
        emit_json(counts)
        return
    click.echo(f"{counts['keys_added']} key(s) added for {counts['chunks']} chunk(s); the model failed on {counts['failed']}")


@main.command("calibrate")
@click.option("--qaset", "qaset", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A graded Q&A set of this company's questions.")
@click.option("--dry-run", is_flag=True, help="Show the reliability before and after, write nothing.")
@json_option
@data_dir_option
@handle_errors
def calibrate_cmd(qaset, dry_run, as_json, data_dir):
    """Recalibrate the reply confidence (and, with answerable and unanswerable items, the abstention) on a
    graded set; writes <data dir>/evidence_models.json, which replies then use. Run it before adding the
    set's questions as keys (question-keys from-qaset): keyed questions would look easier than new ones."""
    from evals.calibrate import calibrate
    from evals.metrics import source_matches
    from kb.answer.pipeline import Answerer

    qs = _load_set(qaset)
    settings = settings_for(data_dir).model_copy(update={"abstain_threshold": 0.0})
    items = [(it.question, it.answerable, lambda c, src=tuple(it.expected_sources): any(source_matches(c, s) for s in src))
             for it in qs.items]
    with KnowledgeBase.open(settings) as kb:
        answerer = Answerer(kb, settings)
        try:
            report = calibrate(answerer, answerer.models, items, f"Q&A set {qs.name}",
                               data_dir=None if dry_run else kb.data_dir)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
    if as_json:
        emit_json(report)
        return
    click.echo(f"calibrated on {report['items']} graded questions of {qs.name}")
    for label in ("before", "after"):
        r = report[label]
        click.echo(f"  {label}: answerable abstained {r['answerable_abstained']}, unanswerable abstained {r['unanswerable_abstained']}")
        for b in r["reliability"]:
            click.echo(f"    confidence {b['bin']}: {b['n']} replies, mean {b['predicted']:.2f}, cite a right source {b['observed']:.2f}")
    click.echo(f"  written: {report['written']}" if "written" in report else "  (dry run: nothing written)")


def _register_bench() -> None:
    from api.cli.eval_cmds import bench

    @bench.command("own-docs")
    @click.option("--corpora", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Corpora directory (default: CITEDESK_CORPORA_DIR).")
    @click.option("--demo-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                  help="A demo knowledge base (`citedesk demo build --data-dir DIR`); it is copied, not changed.")
    @click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Where the benchmark's knowledge bases go (default: <data dir>/bench/own-docs).")
    @click.option("--only", default="alone,mixed,graded", help="Configurations to run, comma-separated.")
    @json_option
    @handle_errors
    def bench_own_docs(corpora, demo_dir, work, only, as_json):
        """Answers about documents nobody keyed (LeCoQA's unseen laws): alone, mixed with the bundled
        statutes and the demo, and after a third of their questions were graded (evals/own_docs.py)."""
        from evals.own_docs import run

        base = settings_for(None)
        if not (Path(demo_dir) / "catalog.sqlite").is_file():
            raise ValidationError(f"no knowledge base in {demo_dir}: run `citedesk demo build --data-dir {demo_dir}` first")
        work = Path(work) if work else Path(base.data_dir) / "bench" / "own-docs"
        work.mkdir(parents=True, exist_ok=True)
        result = run(Path(corpora) if corpora else Path(base.corpora_dir), Path(demo_dir), work,
                     configurations=tuple(x.strip() for x in only.split(",") if x.strip()))
        if as_json:
            emit_json(result)
            return
        click.echo(f"{result['unseen_laws']} unseen laws, {result['unseen_articles']} articles; "
                   f"{result['scored_questions']} scored questions, {result['unanswerable_questions']} unanswerable")
        for name in ("alone", "mixed", "graded"):
            if name in result:
                r = result[name]
                click.echo(f"  {name}: hit@1 {r['hit@1']:.3f} hit@5 {r['hit@5']:.3f} cited {r['cited_right']:.3f} "
                           f"answerable abstained {r['answerable_abstained']:.3f} unanswerable abstained "
                           f"{r['unanswerable_abstained']:.3f} confident≥0.8 right {r['confident_cited_right']}")


_register_bench()
