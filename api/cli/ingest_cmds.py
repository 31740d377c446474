"""`citedesk ingest`, `citedesk docs list|show|remove`, `citedesk demo build|show`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

import kb as kb_package
from api.cli.common import data_dir_option, emit_json, handle_errors, json_option, main, settings_for
from ingest.pipeline import IngestReport, ingest_paths
from kb.bundles import shipped
from kb.errors import NotFoundError
from kb.knowledge import KnowledgeBase
from kb.settings import Settings
from kb.types import KINDS

PROJECT_ROOT = Path(kb_package.__file__).resolve().parent.parent
DEMO_DIR = shipped("demo").path / "documents"
DEMO_QUESTIONS = (
    "随心贷的年化利率是多少？",  # a product rate question
    "客户要投诉，坐席应该怎么处理？",  # a complaint procedure question
    "借款的利息可以预先在本金中扣除吗？",  # a statute question (民法典第六百七十条)
)


def _report_lines(report: IngestReport) -> list[str]:
    r = report
    lines = [
        f"documents: {r.documents_added} added, {r.documents_updated} updated, "
        f"{r.documents_unchanged} unchanged, {r.documents_removed} removed",
        f"chunks: {r.chunks_added} added, {r.chunks_removed} removed",
    ]
    lines += [f"failed: {e['source']}: {e['error']}" for e in r.errors]
    return lines


def _run_ingest(settings: Settings, paths: list[Path], kind: str | None, prune: bool, as_json: bool) -> None:
    with KnowledgeBase.open(settings, writer=True) as kb:
        report = ingest_paths(kb, paths, kind=kind, prune=prune, progress=not as_json)
    if as_json:
        emit_json(report.to_dict())
    else:
        for line in _report_lines(report):
            click.echo(line, err=line.startswith("failed:"))
    sys.exit(0 if report.ok else 1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(KINDS), default=None,
              help="Kind of every document (for record files: faq or case picks the record type).")
@click.option("--prune", is_flag=True, help="Remove documents whose source file under these paths is gone.")
@json_option
@data_dir_option
@handle_errors
def ingest(paths, kind, prune, as_json, data_dir):
    """Ingest files and folders (md, txt, html, docx, pdf, csv, xlsx, jsonl); unchanged files are skipped.

    Exit status 0 when every file was ingested, 1 when some file failed (the others are kept)."""
    _run_ingest(settings_for(data_dir), list(paths), kind, prune, as_json)


@main.group()
def docs() -> None:
    """List, show and remove documents in the knowledge base."""


@docs.command("list")
@json_option
@data_dir_option
@handle_errors
def docs_list(as_json, data_dir):
    """Every document with its kind, status and number of chunks."""
    with KnowledgeBase.open(settings_for(data_dir)) as kb:
        infos = kb.documents()
    rows = [
        {
            "doc_id": d.doc_id, "title": d.title, "kind": d.kind, "source": d.source,
            "chunks": d.chunk_count, "status": d.status, "product": d.meta.get("product"),
            "version": d.meta.get("version"), "updated_at": d.updated_at,
        }
        for d in infos
    ]  # fmt: skip
    if as_json:
        emit_json({"documents": rows})
        return
    if not rows:
        click.echo("the knowledge base is empty; add documents with `citedesk ingest PATH`")
        return
    for r in rows:
        extra = " ".join(x for x in (r["product"], r["version"] and f"v{r['version']}") if x)
        click.echo(f"{r['doc_id']}  {r['kind']:<10} {r['status']:<7} {r['chunks']:>4}  {r['title']}  {extra}".rstrip())


@docs.command("show")
@click.argument("doc_id")
@json_option
@data_dir_option
@handle_errors
def docs_show(doc_id, as_json, data_dir):
    """A document's meta and its chunks (section, length, start of the text)."""
    with KnowledgeBase.open(settings_for(data_dir)) as kb:
        doc = kb.get_document(doc_id)
        if doc is None:
            raise NotFoundError(f"no document {doc_id!r}; see `citedesk docs list`")
        chunks = kb.chunks_of(doc_id)
    body = {
        "doc_id": doc.doc_id, "title": doc.title, "kind": doc.kind, "source": doc.source, "meta": doc.meta,
        "chunks": [
            {"chunk_id": c.chunk_id, "section": c.section, "page": c.meta.get("page"), "text": c.text} for c in chunks
        ],
    }  # fmt: skip
    if as_json:
        emit_json(body)
        return
    click.echo(f"{doc.title}  ({doc.kind})  {doc.source}")
    for key in ("product", "version", "effective_date", "expiry_date", "tags"):
        if doc.meta.get(key):
            click.echo(f"  {key}: {doc.meta[key]}")
    click.echo(f"  {len(chunks)} chunks:")
    for c in chunks:
        page = f" p.{c.meta['page']}" if c.meta.get("page") else ""
        flat = " ".join(c.text.split())
        click.echo(f"  {c.chunk_id} [{c.section or '—'}]{page} ({len(c.text)}) {flat[:60]}")


@docs.command("remove")
@click.argument("doc_id")
@data_dir_option
@handle_errors
def docs_remove(doc_id, data_dir):
    """Remove a document and its chunks from the knowledge base."""
    with KnowledgeBase.open(settings_for(data_dir), writer=True) as kb:
        removed = kb.remove_document(doc_id)
    click.echo(f"removed {doc_id} ({removed} chunks)")


@main.group()
def demo() -> None:
    """The demo knowledge base: products, procedures, FAQ and cases, plus the public regulations."""


def corpora_path(settings: Settings) -> Path:
    """The corpora folder; a relative setting is read from the project root when not found here."""
    path = Path(settings.corpora_dir)
    if not path.is_absolute() and not path.exists():
        path = PROJECT_ROOT / path
    return path.resolve()


def demo_paths(settings: Settings) -> list[Path]:
    paths = [DEMO_DIR]
    regulations = corpora_path(settings) / "regulations_zh"
    if regulations.is_dir():
        paths.append(regulations)
    return paths


@demo.command("build")
@json_option
@data_dir_option
@handle_errors
def demo_build(as_json, data_dir):
    """Ingest the demo knowledge base (the demo bundle's documents) and <corpora_dir>/regulations_zh when present."""
    settings = settings_for(data_dir)
    paths = demo_paths(settings)
    if not as_json:
        click.echo("ingesting " + ", ".join(str(p) for p in paths))
    _run_ingest(settings, paths, None, True, as_json)


@demo.command("show")
@data_dir_option
@handle_errors
def demo_show(data_dir):
    """Search results (top 3) for three sample questions."""
    from kb.types import SearchFilters

    with KnowledgeBase.open(settings_for(data_dir)) as kb:
        if not kb.documents():
            raise NotFoundError("the knowledge base is empty; run `citedesk demo build` first")
        for question in DEMO_QUESTIONS:
            click.echo(f"Q: {question}")
            for i, hit in enumerate(kb.search(question, k=3, filters=SearchFilters()), start=1):
                c = hit.chunk
                head = " › ".join(p for p in (c.meta.get("title", ""), c.section) if p)
                flat = " ".join(c.text.split())
                click.echo(f"  {i}. [{hit.score:.2f}] {head}")
                click.echo(f"     {flat[:100]}{'…' if len(flat) > 100 else ''}")
            click.echo("")
