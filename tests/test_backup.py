"""Backup and restore: one archive with checksums; restore refuses a damaged archive without
touching current data, and a restored installation answers exactly as before."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from ingest.pipeline import ingest_bytes
from kb.backup import create_backup, restore_backup, verify_archive
from kb.errors import ValidationError, WriterLockedError
from kb.index.locking import WriterLock
from kb.knowledge import KnowledgeBase
from kb.records import Records
from kb.settings import Settings

DOCS = {
    "repay.md": "# 提前还款\n\n## 申请方式\n\n客户可以在App中申请提前还款，提前还款不收取违约金。\n\n"
                "## 到账时间\n\n提前还款后一个工作日内结清，结清证明可在App下载。\n",
    "overdue.md": "# 逾期处理\n\n## 罚息\n\n逾期后按日万分之五计收罚息，最长不超过合同约定上限。\n\n"
                  "## 征信\n\n逾期超过30天可能上报征信。\n",
}
QUESTIONS = ["怎么提前还款？", "逾期罚息怎么算？", "逾期会上征信吗？"]


def _search_view(kb: KnowledgeBase) -> list[list[tuple[str, float]]]:
    return [[(h.chunk.chunk_id, round(h.score, 5)) for h in kb.search(q, k=3)] for q in QUESTIONS]


@pytest.fixture
def installation(tmp_path, records_url):
    # the records key lives outside the data directory, as in production: the disaster below spares it
    settings = Settings(data_dir=tmp_path / "data", database_url=records_url if "postgresql" in records_url else None,
                        records_key_file=tmp_path / "secrets" / "records.key")
    from kb.records.crypto import new_key, write_key_file

    write_key_file(settings.records_key_file, [new_key()])
    with KnowledgeBase.open(settings, writer=True) as kb:
        for name, text in DOCS.items():
            assert ingest_bytes(kb, name, text.encode()).ok
    records = Records.open(settings)
    records.migrate()
    records.add_user("alice", "admin", password="s3cret-pass")
    iid = records.save_interaction({"question": "q", "answer": "a", "citations": [], "flags": []})
    records.add_feedback(iid, "accepted")
    records.close()
    (settings.data_dir / "uploads").mkdir()
    (settings.data_dir / "uploads" / "repay.md").write_text(DOCS["repay.md"], encoding="utf-8")
    return settings


def _view(settings: Settings):
    with KnowledgeBase.open(settings) as kb:
        hits = _search_view(kb)
        stats = kb.stats()
    records = Records.open(settings)
    try:
        state = (records.count("users"), records.count("interactions"), records.count("feedback"),
                 records.authenticate("alice", "s3cret-pass") is not None)
    finally:
        records.close()
    return hits, stats["documents"], stats["chunks"], state


def test_backup_wipe_restore_gives_identical_answers(installation, tmp_path):
    settings = installation
    before = _view(settings)
    archive = tmp_path / "b.tar.gz"
    manifest = create_backup(settings, archive)
    assert manifest["files"] and all(len(v) == 64 for v in manifest["files"].values())
    assert "data/catalog.sqlite" in manifest["files"] and "settings.json" in manifest["files"]
    assert any(k.startswith("vectors/") for k in manifest["files"]) and manifest["vectors"] >= 4
    with tarfile.open(archive) as tar:
        snapshot = json.loads(tar.extractfile("./settings.json").read())
    assert snapshot["secret_key"] == "***"

    shutil.rmtree(settings.data_dir)  # the disaster
    if settings.database_url:
        records = Records.open(settings)
        with records.engine.begin() as conn:
            from kb.records.models import Base

            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
        records.close()
    restore_backup(settings, archive)
    after = _view(settings)
    assert after == before
    assert (settings.data_dir / "uploads" / "repay.md").is_file()
    assert not list(settings.data_dir.parent.glob(".data.*"))  # no temporary directories left behind


def _damage(src: Path, dest: Path, member: str) -> None:
    """Rewrite the archive with one byte of `member` changed (the manifest left as it was)."""
    with tarfile.open(src) as tin, tarfile.open(dest, "w:gz") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read() if m.isfile() else None
            if m.name == member:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            tout.addfile(m, io.BytesIO(data) if data is not None else None)


def test_damaged_archive_is_refused_and_changes_nothing(installation, tmp_path):
    settings = installation
    archive = tmp_path / "b.tar.gz"
    create_backup(settings, archive)
    with KnowledgeBase.open(settings, writer=True) as kb:  # the installation moves on after the backup
        ingest_bytes(kb, "fees.md", "# 手续费\n\n## 提现\n\n提现不收手续费。\n".encode())
    current = _view(settings)

    bad = tmp_path / "bad.tar.gz"
    _damage(archive, bad, "./data/catalog.sqlite")
    with pytest.raises(ValidationError, match="damaged"):
        restore_backup(settings, bad)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(ValidationError):
        restore_backup(settings, truncated)
    not_ours = tmp_path / "other.tar.gz"
    not_ours.write_bytes(gzip.compress(b"hello"))
    with pytest.raises(ValidationError):
        verify_archive(not_ours, settings.secret_key)
    assert _view(settings) == current


def test_restore_is_refused_while_a_writer_holds_the_data_directory(installation, tmp_path):
    settings = installation
    archive = tmp_path / "b.tar.gz"
    create_backup(settings, archive)
    lock = WriterLock(settings.data_dir)
    lock.acquire()
    try:
        with pytest.raises(WriterLockedError):
            restore_backup(settings, archive)
    finally:
        lock.release()
    assert (settings.data_dir / "catalog.sqlite").is_file()


# -- a restore that cannot wipe data ---------------------------------------------------------------
def _state(settings: Settings):
    """Everything a bad restore could lose: answers, counts, users, keys, kept backups."""
    records = Records.open(settings)
    try:
        keys = records.count("api_keys")
    finally:
        records.close()
    kept = sorted(p.name for p in (settings.data_dir / "backups").glob("*")) \
        if (settings.data_dir / "backups").is_dir() else None
    return _view(settings), keys, kept


def _tar(dest: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return dest


def _rewrite(src: Path, dest: Path, change) -> None:
    """Copy the archive with `change(name, data) -> data | None` applied (None drops the entry)."""
    with tarfile.open(src) as tin, tarfile.open(dest, "w:gz") as tout:
        for m in tin.getmembers():
            data = tin.extractfile(m).read() if m.isfile() else None
            if data is not None:
                data = change(m.name.removeprefix("./"), data)
                if data is None:
                    continue
                m.size = len(data)
            tout.addfile(m, io.BytesIO(data) if data is not None else None)


@pytest.fixture
def kept_backup(installation, tmp_path):
    settings = installation
    records = Records.open(settings)
    records.create_key("crm", "agent")
    records.close()
    (settings.data_dir / "backups").mkdir()
    archive = create_backup(settings, settings.data_dir / "backups" / "earlier.tar.gz")
    assert archive["files"]
    return settings, settings.data_dir / "backups" / "earlier.tar.gz"


@pytest.mark.parametrize("backups_dir", [True, False])
def test_an_archive_with_only_a_manifest_is_refused_and_changes_nothing(installation, tmp_path, backups_dir):
    settings = installation
    if backups_dir:
        (settings.data_dir / "backups").mkdir()
        (settings.data_dir / "backups" / "old.tar.gz").write_bytes(b"kept")
    before = _state(settings)
    bare = _tar(tmp_path / "bare.tar.gz", {"manifest.json": json.dumps({"format": 1, "files": {}}).encode()})
    with pytest.raises(ValidationError, match="not signed"):
        restore_backup(settings, bare)
    # signed with the right key, but still not an installation
    from kb.backup import manifest_signature

    blob = json.dumps({"format": 1, "files": {}, "records_backend": "sqlite"}).encode()
    signed = _tar(tmp_path / "signed.tar.gz", {"manifest.json": blob,
                                               "manifest.sig": manifest_signature(blob, settings.secret_key).encode()})
    with pytest.raises(ValidationError, match="not a complete installation"):
        restore_backup(settings, signed)
    assert _state(settings) == before
    assert not list(settings.data_dir.parent.glob(".data.*"))


def test_a_rewritten_manifest_or_another_key_is_refused(kept_backup, tmp_path):
    settings, archive = kept_backup
    before = _state(settings)
    # swap the catalog for an empty one and rewrite the manifest's checksum to match it
    empty = tmp_path / "empty.sqlite"
    import sqlite3

    sqlite3.connect(empty).close()
    fake = empty.read_bytes()
    import hashlib

    def change(name, data):
        if name == "data/catalog.sqlite":
            return fake
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["files"]["data/catalog.sqlite"] = hashlib.sha256(fake).hexdigest()
            return json.dumps(manifest).encode()
        return data

    forged = tmp_path / "forged.tar.gz"
    _rewrite(archive, forged, change)
    with pytest.raises(ValidationError, match="CITEDESK_SECRET_KEY"):
        restore_backup(settings, forged)
    other = settings.model_copy(update={"secret_key": "another-installation-key"})
    with pytest.raises(ValidationError, match="CITEDESK_SECRET_KEY"):
        restore_backup(other, archive)
    assert _state(settings) == before


def test_a_byte_flipped_archive_is_called_damaged(kept_backup, tmp_path):
    settings, archive = kept_backup
    before = _state(settings)
    raw = bytearray(archive.read_bytes())
    for offset in (len(raw) // 3, len(raw) // 2, len(raw) - 12):
        flipped = bytearray(raw)
        flipped[offset] ^= 0xFF
        bad = tmp_path / f"flip-{offset}.tar.gz"
        bad.write_bytes(bytes(flipped))
        with pytest.raises(ValidationError, match="damaged archive"):
            restore_backup(settings, bad)
    assert _state(settings) == before


def test_an_inconsistent_archive_is_refused(kept_backup, tmp_path):
    """Validly signed (as if by a careless tool with the key), but the manifest's snapshot id is not the catalog's."""
    from kb.backup import manifest_signature

    settings, archive = kept_backup
    before = _state(settings)
    fixed = {}

    def change(name, data):
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["snapshot_id"] = "some-other-snapshot"
            fixed["blob"] = json.dumps(manifest).encode()
            return fixed["blob"]
        if name == "manifest.sig":
            return None
        return data

    odd = tmp_path / "odd.tar.gz"
    _rewrite(archive, odd, change)
    resigned = tmp_path / "resigned.tar.gz"
    with tarfile.open(odd) as tin, tarfile.open(resigned, "w:gz") as tout:
        for m in tin.getmembers():
            tout.addfile(m, tin.extractfile(m) if m.isfile() else None)
        info = tarfile.TarInfo("./manifest.sig")
        sig = manifest_signature(fixed["blob"], settings.secret_key).encode()
        info.size = len(sig)
        tout.addfile(info, io.BytesIO(sig))
    with pytest.raises(ValidationError, match="snapshot id"):
        restore_backup(settings, resigned)
    assert _state(settings) == before


@pytest.mark.parametrize("fail_at", ["vectors", "swap"])
def test_a_restore_that_fails_midway_leaves_everything_as_it_was(kept_backup, monkeypatch, fail_at):
    import kb.backup.restore as restore_module

    settings, archive = kept_backup
    with KnowledgeBase.open(settings, writer=True) as kb:  # the installation moves on after the backup
        ingest_bytes(kb, "fees.md", "# 手续费\n\n## 提现\n\n提现不收手续费。\n".encode())
    records = Records.open(settings)
    records.add_user("bob", "agent", password="another-pass")
    records.close()
    before = _state(settings)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    if fail_at == "vectors":
        monkeypatch.setattr(restore_module, "import_vectors", boom)
    else:
        real_rename = os.rename

        def rename(src, dst):
            if Path(dst) == settings.data_dir.resolve() and ".restore-" in str(src):
                raise OSError("disk full")
            return real_rename(src, dst)

        monkeypatch.setattr(restore_module.os, "rename", rename)
    with pytest.raises(OSError, match="disk full"):
        restore_backup(settings, archive)
    monkeypatch.undo()
    assert _state(settings) == before
    assert not list(settings.data_dir.parent.glob(".data.*"))
    restore_backup(settings, archive)  # the same archive restores once nothing fails
    assert _view(settings)[1] == 2


def test_records_of_the_other_kind_are_refused(kept_backup, tmp_path):
    settings, archive = kept_backup
    before = _state(settings)
    other = settings.model_copy(update={"database_url": None if settings.database_url else
                                        "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    with pytest.raises(ValidationError, match="same kind of records database"):
        restore_backup(other, archive)
    assert _state(settings) == before
