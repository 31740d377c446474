"""`citedesk search`, `citedesk stats`, `citedesk reindex`."""

from __future__ import annotations

import click

from api.cli.common import data_dir_option, emit_json, handle_errors, json_option, main, settings_for
from kb.errors import CiteDeskError, ValidationError
from kb.knowledge import KnowledgeBase
from kb.types import KINDS, SearchFilters


def hit_to_dict(rank: int, hit) -> dict:
    c = hit.chunk
    return {
        "rank": rank,
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "title": c.meta.get("title", ""),
        "section": c.section,
        "source": c.meta.get("source", ""),
        "text": c.text,
        "score": round(float(hit.score), 4),
    }


def _snippet(text: str, width: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@main.command()
@click.argument("question", required=False, default="")
@click.option("-k", "k", type=click.IntRange(1, 50), default=None, help="How many results (default CITEDESK_TOP_K).")
@click.option("--kind", multiple=True, type=click.Choice(KINDS), help="Only these document kinds (repeatable).")
@click.option("--product", default=None, help="Only documents of this product.")
@click.option("--tag", "tags", multiple=True, help="Only documents with one of these tags (repeatable).")
@click.option("--include-inactive", is_flag=True, help="Also search expired and not-yet-effective documents.")
@json_option
@data_dir_option
@handle_errors
def search(question, k, kind, product, tags, include_inactive, as_json, data_dir):
    """Hybrid search of the knowledge base (no answer composition)."""
    if not question.strip():
        raise ValidationError("the question is empty: citedesk search \"你的问题\"")
    settings = settings_for(data_dir)
    filters = SearchFilters(
        kind=list(kind) or None, product=product, tags=list(tags) or None, include_inactive=include_inactive
    )
    with KnowledgeBase.open(settings) as kb:
        hits = kb.search(question, k=k, filters=filters)
    results = [hit_to_dict(i + 1, h) for i, h in enumerate(hits)]
    if as_json:
        emit_json({"query": question, "results": results})
        return
    if not results:
        click.echo("no matching passages")
        return
    for r in results:
        head = " › ".join(p for p in (r["title"], r["section"]) if p)
        click.echo(f"{r['rank']:>2}. [{r['score']:.3f}] {head}")
        click.echo(f"    {_snippet(r['text'])}")


@main.command()
@json_option
@data_dir_option
@handle_errors
def stats(as_json, data_dir):
    """Counts, embedder, vector collection and snapshot id of the knowledge base."""
    with KnowledgeBase.open(settings_for(data_dir)) as kb:
        info = kb.stats()
    if as_json:
        emit_json(info)
        return
    for key, value in info.items():
        click.echo(f"{key:>20}: {value}")


@main.command()
@click.option("--embedder", "spec", default=None, help='"e5" or "st:<path or hub name>" (default CITEDESK_EMBEDDER).')
@json_option
@data_dir_option
@handle_errors
def reindex(spec, as_json, data_dir):
    """Re-embed every chunk into a new collection; switch over only when complete. In a shared
    deployment the job is queued for `citedesk worker`, and this command waits for it."""
    settings = settings_for(data_dir)
    if settings.shared:
        result = _reindex_through_the_worker(settings, spec or settings.embedder)
    else:
        result = _reindex_here(settings, spec)
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"re-embedded {result['chunks']} chunks with {result['embedder']} into {result['collection']} "
        f"in {result['seconds']} s"
    )
    if spec and spec != settings.embedder:
        click.echo(f"set CITEDESK_EMBEDDER={spec} so that search uses the same embedder")


def _reindex_through_the_worker(settings, spec: str) -> dict:
    import time

    from api.writes import QueuedWrites

    writes = QueuedWrites(settings)
    job = writes.reindex(spec)
    click.echo(f"queued as job {job['id']}; waiting for `citedesk worker`", err=True)
    while job["status"] in ("queued", "running"):
        time.sleep(2)
        job = writes.job(job["id"])
    if job["status"] != "done":
        raise CiteDeskError(f"the reindex failed: {job['error']}")
    return job["result"]


def _reindex_here(settings, spec: str | None) -> dict:
    # the active collection may belong to another embedder than the settings name: open with that one
    from kb.index.catalog import Catalog

    catalog = Catalog(settings.catalog_location)
    try:
        current = catalog.get_state("embedder_spec")
    finally:
        catalog.close()
    opened = settings.model_copy(update={"embedder": current}) if current else settings
    with KnowledgeBase.open(opened, writer=True) as kb:
        return kb.reindex(spec or settings.embedder)
