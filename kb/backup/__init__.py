"""Backup and restore of a CiteDesk installation.

An archive (tar.gz) holds the catalog, the embedded Chroma store (a logical export of every
collection, rebuilt into a fresh Chroma directory on restore), the lexical index, the
uploaded source files, the records database (SQLite through the sqlite3 online-backup API, or one
JSON file per table for PostgreSQL), a settings snapshot without secrets, and manifest.json with
the sha256 of every file. The caller makes sure no write runs meanwhile: the CLI holds the
data directory's writer lock; the server runs `create_backup` on its writer thread.

The manifest is signed (`manifest.sig`: HMAC-SHA256 with CITEDESK_SECRET_KEY). `restore_backup`
(kb/backup/restore.py) refuses any archive that is damaged, unsigned, or not a complete and
consistent installation before it touches anything, and leaves the data directory and the records
as they were on every failure.

The customer narrative in the records stays encrypted in the archive (the SQLite file is copied
as it is; PostgreSQL rows are dumped with their ciphertext), and the records key is never
archived: the manifest names the keys the archive's values are under, and a restore is refused
before anything changes when this installation's keyring lacks one of them.
"""

from __future__ import annotations

import hashlib
import hmac
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
from sqlalchemy.engine import make_url

from kb.index.locking import LOCK_NAME
from kb.records import Records, settings_snapshot
from kb.records.crypto import KEY_FILE_NAME, key_usage, raw_select
from kb.records.models import Base
from kb.settings import Settings

FORMAT = 1
BACKUP_DIR = "backups"
SKIP = {LOCK_NAME, BACKUP_DIR, KEY_FILE_NAME}  # never archived (the records key least of all)
CHROMA_DIR = "chroma"
SIGNATURE = "manifest.sig"
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
            rows = [dict(r._mapping) for r in conn.execute(raw_select(table))]  # ciphertext as stored
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
    records = records or Records.open(settings)
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
                if not rec_path.exists():  # no one has signed in or made a key yet: archive empty records
                    records.migrate()
                _sqlite_copy(rec_path, stage / "records" / "records.sqlite")
                backend = "sqlite"
            else:
                _dump_tables(records, stage / "records" / "tables")
                backend = records.backend
            with records.engine.connect() as conn:
                used = sorted(k for k in key_usage(conn, Base.metadata) if k != "plain")
            (stage / "settings.json").write_text(json.dumps(settings_snapshot(settings), indent=2), "utf-8")
            snapshot = _snapshot_of(stage / "data" / "catalog.sqlite")
            files = {p.relative_to(stage).as_posix(): _sha256(p) for p in sorted(stage.rglob("*")) if p.is_file()}
            manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "records_backend": backend, "snapshot_id": snapshot,
                        "chroma": "external" if settings.chroma_url else "embedded", "vectors": vectors,
                        "encryption": {"cipher": "fernet", "key_ids": used}, "files": files}
            blob = json.dumps(manifest, indent=2).encode("utf-8")
            (stage / "manifest.json").write_bytes(blob)
            (stage / SIGNATURE).write_text(manifest_signature(blob, settings.secret_key), "utf-8")
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


def manifest_signature(manifest: bytes, secret_key: str) -> str:
    """HMAC-SHA256 of the manifest's bytes with the installation's secret key (CITEDESK_SECRET_KEY):
    a manifest rewritten to match altered files, or written from scratch, does not carry it."""
    return hmac.new(secret_key.encode("utf-8"), manifest, hashlib.sha256).hexdigest()


# verification and restore (kb/backup/restore.py) use the pieces above
from kb.backup.restore import restore_backup, verify_archive  # noqa: E402

__all__ = ["BACKUP_DIR", "create_backup", "export_vectors", "import_vectors", "manifest_signature",
           "restore_backup", "verify_archive"]
