"""Backup and restore: one archive with checksums; restore refuses a damaged archive without
touching current data, and a restored installation answers exactly as before."""

from __future__ import annotations

import gzip
import io
import json
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
    settings = Settings(data_dir=tmp_path / "data", database_url=records_url if "postgresql" in records_url else None)
    with KnowledgeBase.open(settings, writer=True) as kb:
        for name, text in DOCS.items():
            assert ingest_bytes(kb, name, text.encode()).ok
    records = Records(settings.records_url)
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
    records = Records(settings.records_url)
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
        records = Records(settings.records_url)
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
        verify_archive(not_ours)
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
