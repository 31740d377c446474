"""The `citedesk` command line. Each group of commands lives in its own module and is
registered here; machine-readable output (--json) is a contract other tools rely on."""

from __future__ import annotations

import importlib

import click

from api.cli.common import main

# Modules that add commands to `main`. A module missing here means its commands are not
# available yet; keep this list in step with docs/cli.md.
_COMMAND_MODULES = [
    "api.cli.ingest_cmds",  # ingest, docs, demo
    "api.cli.kb_cmds",  # search, stats, reindex
    "api.cli.ask_cmd",  # ask
    "api.cli.eval_cmds",  # eval, bench
    "api.cli.admin_cmds",  # serve, keys, users (team), backup, restore
    "api.cli.demo_cmds",  # demo accounts
    "api.cli.complaint_cmds",  # complaints, kpis, spotcheck
    "api.cli.protect_cmds",  # encryption, export offline-pack
    "api.cli.learn_cmds",  # question-keys, calibrate, bench own-docs
]

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # pragma: no cover - only while a module is being written
        if exc.name != _name:
            raise

__all__ = ["main", "click"]
