"""`citedesk encryption …` (the records key: status, a new key, rotation) and `citedesk export
offline-pack` (the static bundle agents open during an outage)."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.admin_cmds import _actor, _records
from api.cli.common import data_dir_option, emit_json, handle_errors, json_option, main, settings_for
from kb.errors import CiteDeskError


@main.group()
def encryption() -> None:
    """Encryption at rest of the customer narrative in the records."""


@encryption.command("status")
@data_dir_option
@json_option
@handle_errors
def encryption_status(data_dir: Path | None, as_json: bool) -> None:
    """The keys, where they come from, and how many stored values each encrypts."""
    info = _records(data_dir, read_only=True).encryption_status()
    if as_json:
        emit_json(info)
        return
    click.echo(f"cipher: {info['cipher']}")
    click.echo(f"keys from {info['source']}: {', '.join(info['keys'])} (newest, which encrypts: {info['primary']})")
    for kid, n in sorted(info["values"].items()):
        click.echo(f"  {n:>8} values under {kid}" if kid != "plain" else f"  {n:>8} values NOT encrypted")


@encryption.command("new-key")
def encryption_new_key() -> None:
    """Print a fresh key (for CITEDESK_RECORDS_KEY or a key file)."""
    from kb.records.crypto import new_key

    click.echo(new_key())


@encryption.command("rotate")
@click.option("--drop-old", is_flag=True,
              help="Remove the old keys from the key file afterwards (backups taken with them then need the key "
                   "kept elsewhere).")
@data_dir_option
@json_option
@handle_errors
def encryption_rotate(drop_old: bool, data_dir: Path | None, as_json: bool) -> None:
    """Re-encrypt every stored value under a new key, in one transaction (stop the server first).

    With a key file: a new key is written first in the file (the old ones stay after it, to open
    older backups, unless --drop-old), then every value is re-encrypted. With CITEDESK_RECORDS_KEY:
    put the new key first in the variable (`citedesk encryption new-key`), then run this."""
    from kb.index.locking import WriterLock
    from kb.records.crypto import KeyRing, key_file_of, new_key, parse_keys, write_key_file

    settings = settings_for(data_dir)
    lock = WriterLock(Path(settings.data_dir))
    lock.acquire()  # the server keeps its keyring in memory: it must not run meanwhile
    try:
        records = _records(data_dir, read_only=True)
        old = records.keyring
        path = key_file_of(settings)
        if settings.records_key:
            keyring = KeyRing(parse_keys(settings.records_key), "CITEDESK_RECORDS_KEY")
        else:
            keys = [new_key(), *parse_keys(path.read_text(encoding="ascii"))]
            write_key_file(path, keys)  # both keys on disk before any value changes
            keyring = KeyRing(keys, str(path))
        changed = records.rotate_key(keyring)
        if drop_old and not settings.records_key:
            write_key_file(path, [parse_keys(path.read_text(encoding="ascii"))[0]])
        records.audit(_actor(), "encryption.rotate", keyring.primary, {"values": changed, "previous": old.primary})
    finally:
        lock.release()
    info = {"primary": keyring.primary, "previous": old.primary, "values": changed, "source": keyring.source}
    if as_json:
        emit_json(info)
    elif keyring.primary == old.primary:
        click.echo(f"every value is already under {keyring.primary}; put a new key first in CITEDESK_RECORDS_KEY")
    else:
        click.echo(f"re-encrypted {changed} values from {old.primary} to {keyring.primary} ({keyring.source})")


@main.group()
def export() -> None:
    """Exports for use outside CiteDesk."""


@export.command("offline-pack")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True,
              help="The language of the pack's own words.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["faq", "procedure", "product", "regulation", "case"]),
              help="Document kinds to include (repeatable; default: faq, procedure, product).")
@data_dir_option
@json_option
@handle_errors
def export_offline_pack(out_dir: Path, lang: str, kinds: tuple[str, ...], data_dir: Path | None,
                        as_json: bool) -> None:
    """Write OUT_DIR/index.html: the documents in force with a search that works from disk."""
    from kb.knowledge import KnowledgeBase
    from ui.offline_pack import KINDS, write_pack

    settings = settings_for(data_dir)
    with KnowledgeBase.open(settings) as kb:
        if not kb.documents():
            raise CiteDeskError("the knowledge base is empty; ingest documents first")
        info = write_pack(kb, out_dir, lang, tuple(kinds) or KINDS)
    if as_json:
        emit_json(info)
    else:
        click.echo(f"wrote {info['file']} ({info['documents']} documents, {info['passages']} passages, "
                   f"{info['bytes'] // 1024} KB)")
