"""Backup and restore of a CiteDesk installation.

An archive (tar.gz) holds the catalog, the embedded Chroma store (a logical export of every
collection, rebuilt into a fresh Chroma directory on restore), the lexical index, the
uploaded source files, the records database (SQLite through the sqlite3 online-backup API, or one
JSON file per table for PostgreSQL), a settings snapshot without secrets, and manifest.json with
the sha256 of every file. The caller makes sure no write runs meanwhile: the CLI holds the
data directory's writer lock; the server runs `create_backup` on its writer thread.

`restore_backup` verifies every checksum before touching anything, extracts into a temporary
directory beside the data directory and swaps it in with two renames.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import DateTime, delete, insert, select, text
from sqlalchemy.engine import make_url

from kb.errors import ValidationError
from kb.index.locking import LOCK_NAME, WriterLock
from kb.records import Records, settings_snapshot
from kb.records.models import Base
from kb.settings import Settings

FORMAT = 1
BACKUP_DIR = "backups"
SKIP = {LOCK_NAME, BACKUP_DIR}  # never archived
CHROMA_DIR = "chroma"
BATCH = 2000


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _sqlite_copy(src: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite database (the online-backup API)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as source, sqlite3.connect(dest) as target:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
    target.close()
    source.close()


def _copy_tree(src: Path, dest: Path) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        out = dest / rel
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
        elif path.suffix in (".sqlite", ".sqlite3") and _is_sqlite(path):
            _sqlite_copy(path, out)
        elif path.name.endswith(("-wal", "-shm", "-journal")):
            continue  # folded into the copy by the online-backup API
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def _records_sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    return Path(u.database).resolve() if u.get_backend_name() == "sqlite" and u.database else None


def _dump_tables(records: Records, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with records.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = [dict(r._mapping) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
            (out / f"{table.name}.json").write_text(json.dumps(rows, default=str, ensure_ascii=False), "utf-8")


def _release_chroma() -> None:
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def export_vectors(client: Any, out: Path) -> int:
    """Every Chroma collection as `<name>.npy` (vectors) and `<name>.json` (ids, metadata).

    A logical export rather than a copy of Chroma's files: an open PersistentClient keeps part of
    its index in memory, and a file copy taken meanwhile restores to a broken collection."""
    out.mkdir(parents=True, exist_ok=True)
    total = 0
    for col in client.list_collections():
        ids: list[str] = []
        metas: list[Any] = []
        vecs: list[np.ndarray] = []
        while True:
            got = col.get(include=["embeddings", "metadatas"], limit=BATCH, offset=len(ids))
            if not got["ids"]:
                break
            ids += got["ids"]
            metas += list(got["metadatas"] or [None] * len(got["ids"]))
            vecs.append(np.asarray(got["embeddings"], dtype=np.float32))
        np.save(out / f"{col.name}.npy", np.vstack(vecs) if vecs else np.zeros((0, 0), np.float32))
        (out / f"{col.name}.json").write_text(json.dumps({"name": col.name, "ids": ids, "metadatas": metas},
                                                         ensure_ascii=False), "utf-8")
        total += len(ids)
    return total


def import_vectors(folder: Path, chroma_dir: Path) -> int:
    """Rebuild the embedded Chroma store in `chroma_dir` from `export_vectors` output."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(path=str(chroma_dir), settings=ChromaSettings(anonymized_telemetry=False))
    total = 0
    try:
        for meta_path in sorted(folder.glob("*.json")):
            info = json.loads(meta_path.read_text("utf-8"))
            vecs = np.load(folder / f"{info['name']}.npy")
            col = client.get_or_create_collection(name=info["name"], configuration={"hnsw": {"space": "cosine"}})
            ids, metas = info["ids"], info["metadatas"]
            for i in range(0, len(ids), BATCH):
                part = metas[i : i + BATCH]
                col.upsert(ids=ids[i : i + BATCH], embeddings=vecs[i : i + BATCH],
                           metadatas=part if all(part) else None)
            total += len(ids)
    finally:
        del client
        _release_chroma()
    return total


def create_backup(settings: Settings, dest: Path, records: Records | None = None,
                  chroma_client: Any = None) -> dict[str, Any]:
    """Write the archive to `dest` (atomically: a temporary file renamed into place); return the manifest.
    `chroma_client` is the open client of the process that owns the data directory, if any."""
    data_dir = Path(settings.data_dir).resolve()
    dest = Path(dest).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    own_records = records is None
    records = records or Records(settings.records_url)
    try:
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".backup-") as tmp:
            stage = Path(tmp) / "stage"
            (stage / "data").mkdir(parents=True)
            rec_path = _records_sqlite_path(settings.records_url)
            for item in sorted(data_dir.iterdir()) if data_dir.is_dir() else []:
                if item.name in SKIP or item.name == CHROMA_DIR or item.name.startswith(".") \
                        or (rec_path and item.resolve() == rec_path):
                    continue
                if item.is_dir():
                    _copy_tree(item, stage / "data" / item.name)
                elif item.name.endswith(("-wal", "-shm", "-journal")):
                    continue
                elif _is_sqlite(item):
                    _sqlite_copy(item, stage / "data" / item.name)
                else:
                    shutil.copy2(item, stage / "data" / item.name)
            vectors = None
            if not settings.chroma_url and (data_dir / CHROMA_DIR).is_dir():
                if chroma_client is not None:
                    vectors = export_vectors(chroma_client, stage / "vectors")
                else:
                    from kb.index.vectorstore import make_client

                    try:
                        vectors = export_vectors(make_client(data_dir), stage / "vectors")
                    finally:
                        _release_chroma()
            if rec_path is not None:
                if rec_path.exists():
                    _sqlite_copy(rec_path, stage / "records" / "records.sqlite")
                backend = "sqlite"
            else:
                _dump_tables(records, stage / "records" / "tables")
                backend = records.backend
            (stage / "settings.json").write_text(json.dumps(settings_snapshot(settings), indent=2), "utf-8")
            snapshot = _snapshot_of(stage / "data" / "catalog.sqlite")
            files = {p.relative_to(stage).as_posix(): _sha256(p) for p in sorted(stage.rglob("*")) if p.is_file()}
            manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "records_backend": backend, "snapshot_id": snapshot,
                        "chroma": "external" if settings.chroma_url else "embedded", "vectors": vectors,
                        "files": files}
            (stage / "manifest.json").write_text(json.dumps(manifest, indent=2), "utf-8")
            partial = Path(tmp) / "archive.tar.gz"
            with tarfile.open(partial, "w:gz") as tar:
                tar.add(stage, arcname=".")
            os.replace(partial, dest)
        return manifest
    finally:
        if own_records:
            records.close()


def _snapshot_of(catalog: Path) -> str | None:
    if not catalog.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{catalog}?mode=ro&immutable=1", uri=True) as conn:
            row = conn.execute("SELECT value FROM state WHERE key = 'snapshot_id'").fetchone()
        return row[0] if row else None
    except sqlite3.Error:
        return None


def verify_archive(archive: Path) -> dict[str, Any]:
    """Check the archive's manifest and every checksum without extracting; raise ValidationError."""
    archive = Path(archive)
    if not archive.is_file():
        raise ValidationError(f"{archive}: no such backup archive")
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
            if "manifest.json" not in members:
                raise ValidationError(f"{archive.name}: not a CiteDesk backup (no manifest.json)")
            manifest = json.loads(tar.extractfile(members["manifest.json"]).read())
            files = manifest.get("files") or {}
            for name, member in members.items():
                if member.issym() or member.islnk() or name.startswith("/") or ".." in Path(name).parts:
                    raise ValidationError(f"{archive.name}: unsafe entry {name!r}")
                if member.isfile() and name != "manifest.json" and name not in files:
                    raise ValidationError(f"{archive.name}: {name} is not listed in the manifest")
            for name, digest in files.items():
                member = members.get(name)
                if member is None or not member.isfile():
                    raise ValidationError(f"{archive.name}: {name} is missing")
                h = hashlib.sha256()
                f = tar.extractfile(member)
                while block := f.read(1 << 20):
                    h.update(block)
                if h.hexdigest() != digest:
                    raise ValidationError(f"{archive.name}: {name} is damaged (checksum mismatch)")
    except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{archive.name}: damaged or unreadable archive ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise ValidationError(f"{archive.name}: backup format {manifest.get('format')!r} is not supported")
    return manifest


def _load_tables(records: Records, folder: Path) -> None:
    """Replace every records table by the archived rows, in one transaction."""
    tables = Base.metadata.sorted_tables
    with records.engine.begin() as conn:
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
                conn.execute(insert(table), rows)
            if records.backend == "postgresql" and rows:
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                  f"(SELECT max(id) FROM {table.name}))"))


def restore_backup(settings: Settings, archive: Path) -> dict[str, Any]:
    """Verify, then replace the data directory (and records) by the archive's contents."""
    manifest = verify_archive(archive)
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = WriterLock(data_dir)
    lock.acquire()  # WriterLockedError while a server or another writer runs
    try:
        tmp = Path(tempfile.mkdtemp(dir=data_dir.parent, prefix=f".{data_dir.name}.restore-"))
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(tmp, filter="data")
            new_data = tmp / "data"
            if (tmp / "vectors").is_dir():
                import_vectors(tmp / "vectors", new_data / CHROMA_DIR)
            rec_path = _records_sqlite_path(settings.records_url)
            archived_records = tmp / "records" / "records.sqlite"
            if rec_path is not None and archived_records.is_file():
                if rec_path.parent == data_dir:
                    shutil.move(archived_records, new_data / rec_path.name)
                else:
                    staged = rec_path.with_name(f".{rec_path.name}.restore")
                    shutil.copy2(archived_records, staged)
                    for suffix in ("-wal", "-shm"):
                        Path(f"{rec_path}{suffix}").unlink(missing_ok=True)
                    os.replace(staged, rec_path)
            elif rec_path is None and (tmp / "records" / "tables").is_dir():
                records = Records(settings.records_url)
                try:
                    records.migrate()
                    _load_tables(records, tmp / "records" / "tables")
                finally:
                    records.close()
            if (data_dir / BACKUP_DIR).is_dir():
                shutil.move(data_dir / BACKUP_DIR, new_data / BACKUP_DIR)
            old = data_dir.with_name(f".{data_dir.name}.old-{os.getpid()}")
            os.rename(data_dir, old)
            os.rename(new_data, data_dir)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        lock.release()
    return manifest
