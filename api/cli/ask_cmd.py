"""`citedesk ask`: a cited, verified suggested reply to a customer's question."""

from __future__ import annotations

import click

from api.cli.common import data_dir_option, emit_json, handle_errors, json_option, main, settings_for
from kb.answer.pipeline import Answerer, answer_to_dict
from kb.errors import ValidationError
from kb.knowledge import KnowledgeBase
from kb.types import KINDS


@main.command()
@click.argument("question", required=False, default="")
@click.option("--kind", multiple=True, type=click.Choice(KINDS), help="Only these document kinds (repeatable).")
@click.option("--product", default=None, help="Only documents of this product.")
@click.option("--tag", "tags", multiple=True, help="Only documents with one of these tags (repeatable).")
@json_option
@data_dir_option
@handle_errors
def ask(question, kind, product, tags, as_json, data_dir):
    """Answer QUESTION with a reply in which every sentence cites a source."""
    if not question.strip():
        raise ValidationError('the question is empty: citedesk ask "客户的问题"')
    settings = settings_for(data_dir)
    with KnowledgeBase.open(settings) as kb:
        answer = Answerer(kb, settings).ask(
            question, kind=list(kind) or None, product=product, tags=list(tags) or None
        )
    if as_json:
        emit_json(answer_to_dict(answer))
        return
    click.echo(answer.text)
    notes = []
    if answer.abstained:
        notes.append("no basis in the knowledge base — escalate")
    notes += [f for f in answer.flags]
    click.echo()
    if answer.citations:
        click.echo("Sources:" if not answer.abstained else "Closest sources (for the agent to read):")
        for c in answer.citations:
            head = " › ".join(p for p in (c.title, c.section) if p)
            version = f" ({c.version})" if c.version else ""
            click.echo(f"  [{c.n}] {head}{version}")
            if c.quote:
                click.echo(f"      “{c.quote}”")
    if answer.dropped:
        click.echo(f"Removed by verification: {len(answer.dropped)} sentence(s)")
    click.echo(f"confidence {answer.confidence:.2f} · {answer.mode} · {answer.latency_ms:.0f} ms"
               + (f" · {', '.join(notes)}" if notes else ""))
