"""Encryption at rest of customer narrative: the database file (and the PostgreSQL columns) hold
no customer words in plain text, yet everything reads back; rows stored before encryption are
encrypted by the migration; keys come from the environment or a key file, a wrong or missing key
is a clear error, rotation re-encrypts everything; backups stay encrypted and a restore without
the key is refused before anything changes."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from sqlalchemy import text

from kb.errors import ConfigError, ValidationError
from kb.records import Records
from kb.records.crypto import KeyRing, key_id, keyring_for, new_key, write_key_file
from kb.settings import Settings

# the customer's words, each stored in a different encrypted field
QUESTION = "客户张女士说上周三被扣了两次月供"
REPLY = "非常抱歉给您带来不便，我们核实后会把重复扣的款退回"
EDITED = "坐席改写：重复扣款会在三个工作日内原路退回"
COMMENT = "客户情绪激动，提到要去银保监投诉"
NARRATIVE = "客户反映在三月五日被重复扣除月供一千二百元"
REQUEST = "要求退还重复扣的款项并书面道歉"
RESOLUTION = "财务核算组核实后已原路退回重复扣款"
NOTE = "回访时客户表示款项已到账"
SPOT_COMMENT = "答复准确但没有告知到账时间"
WORDS = (QUESTION, REPLY, EDITED, COMMENT, NARRATIVE, REQUEST, RESOLUTION, NOTE, SPOT_COMMENT)


def fill(records: Records) -> int:
    """One of each encrypted thing; returns the complaint id."""
    iid = records.save_interaction({"question": QUESTION, "answer": REPLY})
    records.add_feedback(iid, "edited", edited_reply=EDITED, comment=COMMENT)
    c = records.create_complaint(narrative=NARRATIVE, request=REQUEST, agent="wang", interaction_id=iid)
    records.route_complaint(c.id, "wang")
    records.resolve_complaint(c.id, "wang", RESOLUTION)
    records.record_followup(records.followups_of(c.id)[0].id, "wang", "satisfied", note=NOTE)
    _, (sc,) = records.draw_sample("trainer1", 1)
    records.grade_spot_check(sc.id, "trainer1", accurate=True, complete=False, polite=True, compliant=True,
                             comment=SPOT_COMMENT)
    return c.id


def reads_back(records: Records, complaint_id: int) -> None:
    it = records.interactions(limit=1)[0]
    assert (it.question, it.answer) == (QUESTION, REPLY)
    fb = records.feedback_for(it.id)[0]
    assert (fb.edited_reply, fb.comment) == (EDITED, COMMENT)
    c = records.get_complaint(complaint_id)
    assert (c.narrative, c.request, c.resolution) == (NARRATIVE, REQUEST, RESOLUTION)
    assert records.followups_of(complaint_id)[0].note == NOTE
    assert records.spot_checks()[0][0].comment == SPOT_COMMENT


def test_the_database_file_holds_no_customer_narrative_in_plain_text(tmp_path):
    db = tmp_path / "records.sqlite"
    records = Records(f"sqlite:///{db}")
    records.migrate()
    cid = fill(records)
    reads_back(records, cid)
    records.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("records.sqlite*"))  # the file, its WAL and index
    assert b"enc1:" in raw
    found = [w for w in WORDS if w.encode("utf-8") in raw]
    assert found == [], f"stored in plain text: {found}"
    # what stays plain is what search and the KPIs need: ids, statuses, dates, topics
    assert "利息费用".encode() in raw or "其他".encode() in raw


def test_postgres_and_sqlite_columns_hold_ciphertext(records_url, tmp_path):
    keyring = KeyRing([new_key()], "test")
    records = Records(records_url, keyring=keyring)
    records.migrate()
    cid = fill(records)
    with records.engine.connect() as conn:
        raw = conn.execute(text("SELECT question, answer FROM interactions")).one()
        dump = " ".join(str(conn.execute(text(f"SELECT * FROM {t}")).fetchall())
                        for t in ("interactions", "feedback", "complaints", "follow_ups", "spot_checks", "audit_events"))
    assert all(v.startswith(f"enc1:{keyring.primary}:") for v in raw)
    assert [w for w in WORDS if w in dump] == []
    reads_back(records, cid)
    status = records.encryption_status()
    assert status["values"] == {keyring.primary: 9} and "plain" not in status["values"]
    records.close()
    stranger = Records(records_url, keyring=KeyRing([new_key()], "another key"))
    with pytest.raises(ConfigError, match=f"encrypted with key {keyring.primary}, which is not in the keyring"):
        stranger.interactions()
    stranger.close()


def test_the_migration_encrypts_what_was_stored_in_plain_text(tmp_path):
    from alembic import command
    from alembic.config import Config

    from kb.records.repo import MIGRATIONS

    db = tmp_path / "records.sqlite"
    records = Records(f"sqlite:///{db}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with records.engine.begin() as conn:  # an installation from before encryption
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO interactions (question, answer, citations, flags, mode, latency_ms, confidence, "
                          "abstained, created_at) VALUES (:q, :a, '[]', '[]', 'extractive', 1, 0.5, 0, "
                          "'2026-03-01 00:00:00')"), {"q": QUESTION, "a": REPLY})
        conn.execute(text("INSERT INTO feedback (interaction_id, verdict, comment, created_at) "
                          "VALUES (1, 'rejected', :c, '2026-03-01 00:00:00')"), {"c": COMMENT})
    records.migrate()
    with records.engine.connect() as conn:
        assert conn.execute(text("SELECT question FROM interactions")).scalar().startswith("enc1:")
    it = records.get_interaction(1)
    assert (it.question, it.answer, records.feedback_for(1)[0].comment) == (QUESTION, REPLY, COMMENT)
    records.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("records.sqlite*"))
    assert [w for w in (QUESTION, REPLY, COMMENT) if w.encode() in raw] == []  # no old page kept the text


def test_keys_from_the_environment_or_a_key_file(tmp_path):
    key = new_key()
    from_env = keyring_for(Settings(data_dir=tmp_path / "a", records_key=f"{key}, {new_key()}"))
    assert from_env.primary == key_id(key.encode()) and len(from_env.ids) == 2
    assert from_env.source == "CITEDESK_RECORDS_KEY"
    default = keyring_for(Settings(data_dir=tmp_path / "b"))  # created on first use, readable by its owner only
    file = tmp_path / "b" / "records.key"
    assert file.is_file() and oct(file.stat().st_mode & 0o777) == "0o600"
    assert keyring_for(Settings(data_dir=tmp_path / "b")).ids == default.ids
    with pytest.raises(ConfigError, match="not a records key"):
        keyring_for(Settings(data_dir=tmp_path, records_key="not-a-key"))
    with pytest.raises(ConfigError, match="does not exist"):
        keyring_for(Settings(data_dir=tmp_path, records_key_file=tmp_path / "nowhere" / "records.key"))
    strong = "kX3v9Qw2Lp7Zr5Tn8Yb4Hc6Jd1Mf0Gs_Ue-Ai2Oq7Wr"  # a secret production accepts
    with pytest.raises(ConfigError, match="records key would be kept beside"):
        Settings(env="production", secret_key=strong).check_safe()
    Settings(env="production", secret_key=strong, records_key=key).check_safe()


def test_rotation_re_encrypts_every_value_under_the_new_key(tmp_path):
    old, new = new_key(), new_key()
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    records = Records(db, keyring=KeyRing([old], "old"))
    records.migrate()
    cid = fill(records)
    assert records.rotate_key(KeyRing([new, old], "both")) == 9
    assert records.encryption_status()["values"] == {key_id(new.encode()): 9}
    assert records.rotate_key(KeyRing([new, old], "both")) == 0  # nothing left to do
    records.close()
    only_new = Records(db, keyring=KeyRing([new], "new"))
    reads_back(only_new, cid)
    only_new.close()
    only_old = Records(db, keyring=KeyRing([old], "old"))
    with pytest.raises(ConfigError, match="not in the keyring"):
        only_old.get_complaint(cid).narrative  # noqa: B018 - reading is what fails
    only_old.close()


def test_backups_stay_encrypted_and_a_restore_without_the_key_is_refused(tmp_path, records_url):
    from kb.backup import create_backup, restore_backup

    key_file = tmp_path / "secrets" / "records.key"
    write_key_file(key_file, [new_key()])
    settings = Settings(data_dir=tmp_path / "data", records_key_file=key_file,
                        database_url=records_url if "postgresql" in records_url else None)
    from kb.knowledge import KnowledgeBase

    KnowledgeBase.open(settings, writer=True).close()  # an installation: its catalog, however empty
    records = Records.open(settings)
    records.migrate()
    fill(records)
    records.close()
    archive = tmp_path / "backup.tar.gz"
    manifest = create_backup(settings, archive)
    assert manifest["encryption"]["key_ids"] == keyring_for(settings).ids
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    assert not any(Path(n).name == "records.key" for n in names)
    assert [w for w in WORDS if w.encode() in blob] == []
    write_key_file(key_file, [new_key()])  # the key that opened it is lost
    marker = settings.data_dir / "still-here.txt"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("untouched", encoding="utf-8")
    with pytest.raises(ValidationError, match="encrypted with key"):
        restore_backup(settings, archive)
    assert marker.read_text(encoding="utf-8") == "untouched"
