"""Docs are part of the product: a setting or a CLI command missing from docs/ fails here."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli import main
from kb.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_documented():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [f"CITEDESK_{name.upper()}" for name in Settings.model_fields if f"CITEDESK_{name.upper()}" not in text]
    assert not missing, f"undocumented settings in docs/configuration.md: {missing}"


def _commands(group: click.Group, prefix: str = "citedesk"):
    for name, cmd in group.commands.items():
        path = f"{prefix} {name}"
        yield path
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path)


def test_every_cli_command_is_documented():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [c for c in _commands(main) if f"`{c}" not in text]
    assert not missing, f"commands missing from docs/cli.md: {missing}"
