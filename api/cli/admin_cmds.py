"""Operations commands: serve, worker, keys, users, backup, restore."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from api.cli.common import data_dir_option, emit_json, handle_errors, json_option, main, settings_for
from kb.errors import CiteDeskError, NotFoundError, WriterLockedError
from kb.records import ROLES, Records


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in this environment
        return "cli"


def _refuse_shared(settings) -> None:
    if settings.shared:
        raise CiteDeskError("a shared deployment is backed up where its data lives: PostgreSQL (pg_dump: catalog and "
                            "records), the Chroma server's directory and the worker's uploads/ (docs/deployment.md)")


def _records(data_dir: Path | None, read_only: bool = False) -> Records:
    """The records database, migrated. A read-only command refuses a data directory that does not
    exist (with SQLite records) rather than create an empty installation at a mistyped path."""
    settings = settings_for(data_dir)
    if read_only and not settings.database_url and not (Path(settings.data_dir) / "records.sqlite").is_file():
        raise NotFoundError(f"no records database in {settings.data_dir} (check --data-dir or CITEDESK_DATA_DIR)")
    records = Records.open(settings)
    records.migrate()
    return records


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Reader processes on this port (a shared deployment only: CITEDESK_REDIS_URL).")
@data_dir_option
@handle_errors
def serve(host: str, port: int, workers: int, data_dir: Path | None) -> None:
    """Run the web server (API, docs at /docs, and the web pages). Embedded, it owns the data
    directory; in a shared deployment it is a reader, and `citedesk worker` writes."""
    import os

    import uvicorn

    from api.app import create_app
    from kb.index.locking import WriterLock

    settings = settings_for(data_dir)
    settings.check_safe()
    if not settings.shared:
        if workers > 1:
            raise CiteDeskError("--workers needs a shared deployment (CITEDESK_REDIS_URL, CITEDESK_DATABASE_URL on "
                                "PostgreSQL, CITEDESK_CHROMA_URL): one process owns an embedded data directory")
        probe = WriterLock(Path(settings.data_dir))
        probe.acquire()  # a clear message now rather than a failed startup inside uvicorn
        probe.release()
    if workers == 1:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
        return
    if data_dir is not None:  # each worker process reads its settings from the environment
        os.environ["CITEDESK_DATA_DIR"] = str(data_dir)
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@main.command()
@click.option("--burst", is_flag=True, help="Stop once the queue is empty (for scripts and tests).")
@data_dir_option
@handle_errors
def worker(burst: bool, data_dir: Path | None) -> None:
    """The one writer of a shared deployment: takes upload, re-ingest, delete and reindex jobs from
    the queue any server enqueues to. A second worker waits as a standby and takes over."""
    import logging

    from api.worker import serve as serve_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per Chroma request
    settings = settings_for(data_dir)
    settings.check_safe()
    done = serve_worker(settings, burst=burst)
    click.echo(f"worker stopped after {done} job(s)", err=True)


@main.command()
@click.option("--from-data-dir", "source", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The data directory of the embedded knowledge base to copy.")
@handle_errors
def share(source: Path) -> None:
    """Copy an embedded knowledge base (catalog and vectors, nothing embedded again) into the empty
    shared deployment the settings name (CITEDESK_REDIS_URL, _DATABASE_URL, _CHROMA_URL)."""
    from kb.index.catalog import Catalog
    from kb.index.locking import DatabaseWriterLock
    from kb.index.transfer import copy_knowledge_base
    from kb.index.vectorstore import make_client

    settings = settings_for(None)
    if not settings.shared:
        raise CiteDeskError("set the shared deployment's CITEDESK_REDIS_URL, CITEDESK_DATABASE_URL (PostgreSQL) and "
                            "CITEDESK_CHROMA_URL first")
    if not (source / "catalog.sqlite").is_file():
        raise CiteDeskError(f"{source} holds no catalog.sqlite")
    lock = DatabaseWriterLock(settings.database_url)
    lock.acquire()  # no worker may write meanwhile
    try:
        src, dst = Catalog(source / "catalog.sqlite"), Catalog(settings.database_url)
        try:
            done = copy_knowledge_base(src, make_client(source), dst, make_client(settings.data_dir, settings.chroma_url),
                                       progress=lambda line: click.echo(line, err=True))
        finally:
            src.close()
            dst.close()
    finally:
        lock.release()
    emit_json(done)


@main.group()
def keys() -> None:
    """API keys (Authorization: Bearer <key>)."""


@keys.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", required=True, help="Who or what uses the key, e.g. crm-widget.")
@click.option("--user", "username", default=None, help="Tie the key to this user (its actions carry the name).")
@data_dir_option
@json_option
@handle_errors
def keys_create(role: str, name: str, username: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Create a key; it is printed once and only its hash is stored."""
    records = _records(data_dir)
    user_id = None
    if username:
        user = records.get_user_by_name(username)
        if user is None:
            raise CiteDeskError(f"no user {username!r}; add it with `citedesk users add`")
        user_id = user.id
    key, raw = records.create_key(name, role, user_id=user_id)
    records.audit(_actor(), "key.create", f"key {key.id}", {"name": name, "role": role, "prefix": key.prefix})
    if as_json:
        emit_json({"key": raw, "id": key.id, "prefix": key.prefix, "name": key.name, "role": key.role})
    else:
        click.echo(raw)
        click.echo(f"key {key.id} ({key.role}, {key.name}); store it now — it is not shown again", err=True)


@keys.command("list")
@data_dir_option
@json_option
@handle_errors
def keys_list(data_dir: Path | None, as_json: bool) -> None:
    """Every key with its prefix, role and state (never the key itself)."""
    rows = [{"id": k.id, "prefix": k.prefix, "name": k.name, "role": k.role, "revoked": k.revoked,
             "created_at": k.created_at.isoformat()} for k in _records(data_dir, read_only=True).keys()]
    if as_json:
        emit_json({"keys": rows})
        return
    for r in rows:
        click.echo(f"{r['id']:>4}  {r['prefix']}…  {r['role']:<8} {'revoked' if r['revoked'] else 'active ':<8} {r['name']}")


@keys.command("revoke")
@click.argument("key")
@data_dir_option
@handle_errors
def keys_revoke(key: str, data_dir: Path | None) -> None:
    """Revoke a key, given its id or its prefix."""
    records = _records(data_dir)
    revoked = records.revoke_key(key)
    records.audit(_actor(), "key.revoke", f"key {revoked.id}", {"prefix": revoked.prefix})
    click.echo(f"revoked key {revoked.id} ({revoked.prefix}…)")


@main.group()
def users() -> None:
    """People who sign in to the web pages."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@data_dir_option
@handle_errors
def users_add(name: str, role: str, password_stdin: bool, data_dir: Path | None) -> None:
    """Add a user (without --password-stdin the user cannot sign in with a password)."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if len(password) < 8:
            raise CiteDeskError("the password must have at least 8 characters")
    records = _records(data_dir)
    user = records.add_user(name, role, password=password)
    records.audit(_actor(), "user.add", user.username, {"role": role})
    click.echo(f"added user {user.username} ({user.role})")


@users.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, required=True, help="Read the new password from standard input.")
@data_dir_option
@handle_errors
def users_password(name: str, password_stdin: bool, data_dir: Path | None) -> None:
    """Set a user's password; every web session of the user ends."""
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise CiteDeskError("the password must have at least 8 characters")
    records = _records(data_dir, read_only=True)
    records.set_password(name, password)
    records.audit(_actor(), "user.password", name)
    click.echo(f"set the password of {name}; their web sessions have ended")


@users.command("disable")
@click.argument("name")
@data_dir_option
@handle_errors
def users_disable(name: str, data_dir: Path | None) -> None:
    """Disable a user: no sign-in, their web sessions end and their API keys stop working."""
    records = _records(data_dir, read_only=True)
    records.set_active(name, False)
    records.audit(_actor(), "user.disable", name)
    click.echo(f"disabled {name}")


@users.command("enable")
@click.argument("name")
@data_dir_option
@handle_errors
def users_enable(name: str, data_dir: Path | None) -> None:
    """Enable a disabled user again (they sign in anew)."""
    records = _records(data_dir, read_only=True)
    records.set_active(name, True)
    records.audit(_actor(), "user.enable", name)
    click.echo(f"enabled {name}")


@users.command("list")
@data_dir_option
@json_option
@handle_errors
def users_list(data_dir: Path | None, as_json: bool) -> None:
    """Every user and role."""
    rows = [{"id": u.id, "username": u.username, "role": u.role, "active": u.active, "team": u.team,
             "has_password": bool(u.password_hash)} for u in _records(data_dir, read_only=True).users()]
    if as_json:
        emit_json({"users": rows})
        return
    for r in rows:
        click.echo(f"{r['id']:>4}  {r['username']:<20} {r['role']}")


@users.command("team")
@click.argument("name")
@click.argument("team", required=False, default="")
@data_dir_option
@handle_errors
def users_team(name: str, team: str, data_dir: Path | None) -> None:
    """Put a user in an agent team (the service KPIs group by it); no TEAM takes them out."""
    records = _records(data_dir)
    user = records.set_team(name, team)
    records.audit(_actor(), "user.team", user.username, {"team": user.team})
    click.echo(f"{user.username}: team {user.team or '(none)'}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--server", default="http://127.0.0.1:8000", envvar="CITEDESK_SERVER_URL", show_default=True,
              help="The running server to ask when it owns the data directory.")
@click.option("--api-key", default=None, envvar="CITEDESK_API_KEY", help="An admin API key for --server.")
@data_dir_option
@json_option
@handle_errors
def backup(file: Path, server: str, api_key: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Write one archive of the knowledge base and records (consistent even while the server runs)."""
    from kb.backup import create_backup
    from kb.index.locking import WriterLock

    settings = settings_for(data_dir)
    _refuse_shared(settings)
    lock = WriterLock(Path(settings.data_dir))
    try:
        lock.acquire()
    except WriterLockedError:
        manifest = _backup_through_server(file, server, api_key, settings.secret_key)
    else:
        try:
            manifest = create_backup(settings, file)
        finally:
            lock.release()
        records = _records(data_dir)
        records.audit(_actor(), "backup.create", str(file.name), {"files": len(manifest["files"])})
    info = {"file": str(file), "files": len(manifest.get("files", {})), "snapshot_id": manifest.get("snapshot_id")}
    emit_json(info) if as_json else click.echo(f"wrote {file} ({info['files']} files)")


def _backup_through_server(file: Path, server: str, api_key: str | None, secret_key: str) -> dict:
    import httpx

    from kb.backup import verify_archive

    if not api_key:
        raise CiteDeskError("the server owns the data directory; give an admin key (--api-key or CITEDESK_API_KEY) "
                            "so the backup is taken through it")
    partial = file.with_name(f".{file.name}.part")
    try:
        with httpx.stream("POST", f"{server.rstrip('/')}/api/admin/backup", timeout=600,
                          headers={"Authorization": f"Bearer {api_key}"}) as resp:
            if resp.status_code != 200:
                resp.read()
                raise CiteDeskError(f"the server refused the backup ({resp.status_code}): {resp.text[:200]}")
            with partial.open("wb") as out:
                for block in resp.iter_bytes():
                    out.write(block)
    except httpx.HTTPError as exc:
        raise CiteDeskError(f"cannot reach the server at {server}: {exc}") from exc
    manifest = verify_archive(partial, secret_key)
    partial.replace(file)
    return manifest


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@data_dir_option
@json_option
@handle_errors
def restore(file: Path, data_dir: Path | None, as_json: bool) -> None:
    """Replace the data directory and records by a backup (stop the server first)."""
    from kb.backup import restore_backup

    settings = settings_for(data_dir)
    _refuse_shared(settings)
    manifest = restore_backup(settings, file)
    records = _records(data_dir)
    records.audit(_actor(), "backup.restore", str(file.name), {"created_at": manifest.get("created_at"),
                                                               "snapshot_id": manifest.get("snapshot_id")})
    info = {"restored": str(file), "created_at": manifest.get("created_at"), "snapshot_id": manifest.get("snapshot_id")}
    emit_json(info) if as_json else click.echo(f"restored {file} (taken {info['created_at']})")
