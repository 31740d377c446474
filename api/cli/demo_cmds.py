"""`citedesk demo accounts`: one web login and one API key per role for trying the demo;
`citedesk demo qasets`: the demo Q&A set in the trainer's pages.

Passwords and keys are random and printed once; running it again gives the same users new
passwords and adds fresh keys (old demo keys are revoked), so a forgotten password is never a
dead end on a demo machine."""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from api.cli.admin_cmds import _actor, _records
from api.cli.common import data_dir_option, emit_json, handle_errors, json_option
from api.cli.ingest_cmds import PROJECT_ROOT, demo

DEMO_USERS = {"agent": "demo-agent", "supervisor": "demo-supervisor", "trainer": "demo-trainer", "admin": "demo-admin"}
KEY_NAME = "demo-{role}"
DEMO_SETS = (PROJECT_ROOT / "evals" / "sets" / "demo.yaml",)


@demo.command("accounts")
@data_dir_option
@json_option
@handle_errors
def demo_accounts(data_dir: Path | None, as_json: bool) -> None:
    """Create (or refresh) demo users and API keys for each role; print them once."""
    records = _records(data_dir)
    try:
        accounts = []
        for role, username in DEMO_USERS.items():
            password = secrets.token_urlsafe(9)
            if records.get_user_by_name(username) is None:
                user = records.add_user(username, role, password)
            else:
                records.set_password(username, password)
                user = records.get_user_by_name(username)
            for key in records.keys():
                if key.name == KEY_NAME.format(role=role) and not key.revoked:
                    records.revoke_key(key.id)
            _, raw = records.create_key(KEY_NAME.format(role=role), role, user_id=user.id)
            records.audit(_actor(), "demo.accounts", username, {"role": role})
            accounts.append({"role": role, "username": username, "password": password, "api_key": raw})
    finally:
        records.close()
    if as_json:
        emit_json({"accounts": accounts})
        return
    click.echo("Demo accounts (shown once; run `citedesk demo accounts` again for new ones):")
    for a in accounts:
        click.echo(f"  {a['role']:<8} user {a['username']:<13} password {a['password']}  key {a['api_key']}")


@demo.command("qasets")
@data_dir_option
@json_option
@handle_errors
def demo_qasets(data_dir: Path | None, as_json: bool) -> None:
    """Load the demo Q&A set (evals/sets/demo.yaml) into the trainer's Q&A sets. A set of the same
    name that is already there is left as it is (a trainer may have edited it), so this can run again."""
    from evals.qaset import load_qaset

    records = _records(data_dir)
    try:
        loaded = []
        existing = {s.name for s in records.qasets()}
        for path in DEMO_SETS:
            parsed = load_qaset(path)
            if parsed.name in existing:
                loaded.append({"name": parsed.name, "items": None, "status": "already there"})
                continue
            rows = parsed.item_rows(author="demo")
            row = records.create_qaset(parsed.name, parsed.description, author="demo")
            records.add_items(row.id, rows)
            records.audit(_actor(), "qaset.import", row.name, {"items": len(rows), "file": path.name})
            loaded.append({"name": parsed.name, "items": len(rows), "status": "loaded"})
    finally:
        records.close()
    if as_json:
        emit_json({"qasets": loaded})
        return
    for s in loaded:
        if s["status"] == "loaded":
            click.echo(f"Q&A set {s['name']!r}: {s['items']} questions loaded (trainer pages: /trainer/qasets)")
        else:
            click.echo(f"Q&A set {s['name']!r} is already there; left as it is")
