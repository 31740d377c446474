"""Shared pieces of the CLI: the root group, the --data-dir/--json options, error output."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import click

from kb.errors import CiteDeskError
from kb.settings import Settings, get_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """CiteDesk: cited answers for consumer-credit customer service."""


def settings_for(data_dir: Path | None) -> Settings:
    """The environment's settings, with --data-dir applied when given."""
    base = get_settings()
    if data_dir is None:
        return base
    return base.model_copy(update={"data_dir": Path(data_dir)})


def data_dir_option(f):
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory (default: $CITEDESK_DATA_DIR, else ./data).",
    )(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object (a stable contract).")(f)


def emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=None, default=str))


def handle_errors(f):
    """Turn CiteDeskError into a one-line message on stderr and exit status 2."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except CiteDeskError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper
