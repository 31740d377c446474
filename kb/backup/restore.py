"""Verifying and restoring a backup archive. Nothing is touched until the archive has passed:

1. the whole gzip stream reads to its end with a matching CRC — a flipped byte anywhere is a
   "damaged archive", never a confusing "no manifest.json";
2. no entry is a link or leaves the archive, every file is listed in the manifest and every listed
   file is there with its sha256;
3. the manifest carries this installation's signature (`manifest.sig`, HMAC with
   CITEDESK_SECRET_KEY), so a manifest rewritten to fit altered files is refused;
4. it is a complete installation: the catalog, the settings snapshot, the records (a SQLite file, or
   one dump per table), the vectors it counts — of the records backend this installation uses;
5. once extracted (into a temporary directory beside the data directory) it is consistent: the
   catalog and records databases open and hold their tables, the catalog's snapshot id and the
   number of vectors are the ones the manifest names.

Then the data directory is swapped in with two renames and the records replaced; a failure at any
step leaves the data directory, its kept backups and the records as they were (a PostgreSQL
reload commits only after the directories have been swapped, and the swap is undone if it fails).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, delete, insert, text

from kb.backup import (
    BACKUP_DIR,
    CHROMA_DIR,
    FORMAT,
    SIGNATURE,
    _records_sqlite_path,
    _snapshot_of,
    import_vectors,
    manifest_signature,
)
from kb.errors import ValidationError
from kb.index.locking import WriterLock
from kb.records import Records
from kb.records.crypto import key_file_of, keyring_for, raw_table
from kb.records.models import Base
from kb.settings import Settings

CATALOG = "data/catalog.sqlite"
RECORDS_FILE = "records/records.sqlite"
RECORDS_TABLES = "records/tables"


def _damaged(archive: Path, why: str) -> ValidationError:
    return ValidationError(f"{archive.name}: damaged archive ({why}); nothing was restored")


def _check_stream(archive: Path) -> None:
    try:
        with gzip.open(archive, "rb") as f:
            while f.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise _damaged(archive, str(exc) or type(exc).__name__) from exc


def verify_archive(archive: Path, secret_key: str) -> dict[str, Any]:
    """Steps 1–4 of the module doc without extracting; the manifest, or ValidationError."""
    archive = Path(archive)
    if not archive.is_file():
        raise ValidationError(f"{archive}: no such backup archive")
    _check_stream(archive)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
            for name, member in members.items():
                if member.issym() or member.islnk() or name.startswith("/") or ".." in Path(name).parts:
                    raise ValidationError(f"{archive.name}: unsafe entry {name!r}")
            if "manifest.json" not in members:
                raise ValidationError(f"{archive.name}: not a CiteDesk backup (no manifest.json)")
            blob = tar.extractfile(members["manifest.json"]).read()
            sig = members.get(SIGNATURE)
            signature = tar.extractfile(sig).read().decode("ascii", "replace").strip() if sig else ""
            if not hmac.compare_digest(signature, manifest_signature(blob, secret_key)):
                raise ValidationError(
                    f"{archive.name}: the manifest is {'not signed' if not sig else 'not signed with this'} "
                    "installation's secret key (CITEDESK_SECRET_KEY): the archive was altered, or was taken by an "
                    "installation with another key — restore it with that key")
            manifest = json.loads(blob)
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise ValidationError(f"{archive.name}: backup format {manifest.get('format')!r} is not supported")
            files = manifest.get("files")
            if not isinstance(files, dict):
                raise ValidationError(f"{archive.name}: the manifest lists no files")
            _check_complete(archive, manifest, files)
            for name, member in members.items():
                if member.isfile() and name not in ("manifest.json", SIGNATURE) and name not in files:
                    raise ValidationError(f"{archive.name}: {name} is not listed in the manifest")
            for name, digest in files.items():
                member = members.get(name)
                if member is None or not member.isfile():
                    raise _damaged(archive, f"{name} is missing")
                h = hashlib.sha256()
                f = tar.extractfile(member)
                while block := f.read(1 << 20):
                    h.update(block)
                if h.hexdigest() != digest:
                    raise _damaged(archive, f"{name} does not match its checksum")
    except (tarfile.TarError, OSError, EOFError, zlib.error, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _damaged(archive, str(exc) or type(exc).__name__) from exc
    return manifest


def _check_complete(archive: Path, manifest: dict[str, Any], files: dict[str, str]) -> None:
    missing = [f for f in (CATALOG, "settings.json") if f not in files]
    tables = [f"{RECORDS_TABLES}/{t.name}.json" for t in Base.metadata.sorted_tables]
    if manifest.get("records_backend") == "sqlite":
        missing += [] if RECORDS_FILE in files else [RECORDS_FILE]
    else:
        missing += [t for t in tables if t not in files]
    if manifest.get("chroma") == "embedded" and manifest.get("vectors"):
        missing += [] if any(f.startswith("vectors/") for f in files) else ["vectors/"]
    if missing:
        raise ValidationError(f"{archive.name}: not a complete installation (missing {', '.join(missing)}); "
                              "nothing was restored")


def _check_backend(archive: Path, manifest: dict[str, Any], settings: Settings) -> None:
    archived = manifest.get("records_backend")
    here = "sqlite" if _records_sqlite_path(settings.records_url) is not None else "postgresql"
    if (archived == "sqlite") != (here == "sqlite"):
        raise ValidationError(f"{archive.name}: the archive's records are {archived}, this installation's are "
                              f"{here} (CITEDESK_DATABASE_URL); restore it into the same kind of records database")


def _check_keys(settings: Settings, manifest: dict[str, Any], archive: Path) -> None:
    """Refuse an archive whose records this installation's keyring cannot decrypt."""
    needed = set((manifest.get("encryption") or {}).get("key_ids") or [])
    if not needed:
        return
    keyring = keyring_for(settings, create=False)
    have = set(keyring.ids) if keyring else set()
    if needed - have:
        where = keyring.source if keyring else f"no key at {key_file_of(settings)}"
        raise ValidationError(f"{archive.name}: its records are encrypted with key(s) "
                              f"{', '.join(sorted(needed - have))}, which this installation does not have ({where}); "
                              "give the key it was taken with (CITEDESK_RECORDS_KEY or CITEDESK_RECORDS_KEY_FILE)")


def _tables_of(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("the database fails its integrity check")
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _check_consistent(archive: Path, tmp: Path, manifest: dict[str, Any]) -> None:
    """Step 5: the extracted installation opens and agrees with its manifest."""
    try:
        if not {"documents", "chunks", "state"} <= _tables_of(tmp / CATALOG):
            raise ValidationError(f"{archive.name}: the archived catalog is not a CiteDesk catalog")
        if (tmp / RECORDS_FILE).is_file() and not {"alembic_version", "users"} <= _tables_of(tmp / RECORDS_FILE):
            raise ValidationError(f"{archive.name}: the archived records are not a CiteDesk records database")
    except sqlite3.Error as exc:
        raise ValidationError(f"{archive.name}: an archived database cannot be read ({exc})") from exc
    if _snapshot_of(tmp / CATALOG) != manifest.get("snapshot_id"):
        raise ValidationError(f"{archive.name}: the catalog is not the one the manifest describes (snapshot id)")
    if manifest.get("vectors") is not None and (tmp / "vectors").is_dir():
        count = sum(len(json.loads(p.read_text("utf-8"))["ids"]) for p in (tmp / "vectors").glob("*.json"))
        if count != manifest["vectors"]:
            raise ValidationError(f"{archive.name}: {count} vectors archived, the manifest says {manifest['vectors']}")


def _load_tables(conn: Any, backend: str, folder: Path) -> None:
    """Replace every records table by the archived rows on `conn` (the caller's transaction)."""
    tables = Base.metadata.sorted_tables
    for table in reversed(tables):
        conn.execute(delete(table))
    for table in tables:
        rows = json.loads((folder / f"{table.name}.json").read_text("utf-8"))
        dates = [c.name for c in table.columns if isinstance(c.type, DateTime)]
        for row in rows:
            for c in dates:
                if row.get(c):
                    row[c] = datetime.fromisoformat(row[c])
        if rows:
            conn.execute(insert(raw_table(table)), rows)  # the archived ciphertext, not encrypted again
        if backend == "postgresql" and rows:
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                              f"(SELECT max(id) FROM {table.name}))"))


class _Swap:
    """The data directory replaced by the restored one with two renames, and undone on failure."""

    def __init__(self, data_dir: Path, new: Path) -> None:
        self.data_dir, self.new = data_dir, new
        self.old = data_dir.with_name(f".{data_dir.name}.old-{os.getpid()}")

    def do(self) -> None:
        os.rename(self.data_dir, self.old)
        try:
            os.rename(self.new, self.data_dir)
        except BaseException:
            os.rename(self.old, self.data_dir)
            raise

    def undo(self) -> None:
        os.rename(self.data_dir, self.new)
        os.rename(self.old, self.data_dir)

    def finish(self) -> None:
        """Carry the kept backups over, then delete the old directory (kept if they cannot move)."""
        kept = self.old / BACKUP_DIR
        if kept.is_dir():
            os.rename(kept, self.data_dir / BACKUP_DIR)
        shutil.rmtree(self.old, ignore_errors=True)


def restore_backup(settings: Settings, archive: Path) -> dict[str, Any]:
    """Verify, then replace the data directory (and records) by the archive's contents."""
    archive = Path(archive)
    manifest = verify_archive(archive, settings.secret_key)
    _check_backend(archive, manifest, settings)
    _check_keys(settings, manifest, archive)
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = WriterLock(data_dir)
    lock.acquire()  # WriterLockedError while a server or another writer runs
    try:
        tmp = Path(tempfile.mkdtemp(dir=data_dir.parent, prefix=f".{data_dir.name}.restore-"))
        staged: Path | None = None
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
            _check_consistent(archive, tmp, manifest)
            new_data = tmp / "data"
            if (tmp / "vectors").is_dir():
                import_vectors(tmp / "vectors", new_data / CHROMA_DIR)
            rec_path = _records_sqlite_path(settings.records_url)
            key_file = key_file_of(settings).resolve()
            if key_file.parent == data_dir and key_file.is_file():  # the key stays with the installation
                shutil.copy2(key_file, new_data / key_file.name)
            swap = _Swap(data_dir, new_data)
            if rec_path is None:  # PostgreSQL: the reload commits only once the directories are swapped
                records = Records.open(settings)
                try:
                    records.migrate()
                    with records.engine.connect() as conn:
                        transaction = conn.begin()
                        try:
                            _load_tables(conn, records.backend, tmp / RECORDS_TABLES)
                            swap.do()
                        except BaseException:
                            transaction.rollback()
                            raise
                        try:
                            transaction.commit()
                        except BaseException:
                            swap.undo()
                            raise
                finally:
                    records.close()
            elif rec_path.parent == data_dir:
                shutil.move(tmp / RECORDS_FILE, new_data / rec_path.name)
                swap.do()
            else:
                staged = rec_path.with_name(f".{rec_path.name}.restore")
                shutil.copy2(tmp / RECORDS_FILE, staged)
                swap.do()
                try:
                    for suffix in ("-wal", "-shm"):
                        Path(f"{rec_path}{suffix}").unlink(missing_ok=True)
                    os.replace(staged, rec_path)
                except BaseException:
                    swap.undo()
                    raise
            swap.finish()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if staged is not None:
                staged.unlink(missing_ok=True)
    finally:
        lock.release()
    return manifest
