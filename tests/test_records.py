"""The records database on real SQLite and real PostgreSQL: schema migration, users and
keys, interactions stored masked, feedback rules, Q&A sets, eval runs and accuracy metrics."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from kb.errors import NotFoundError, ValidationError
from kb.records import Records, role_at_least, settings_hash, settings_snapshot
from kb.settings import Settings

ID_NUMBER = "110101199003074514"  # a checksum-valid PRC resident ID
CARD = "6222021234567890128"  # Luhn-valid


@pytest.fixture
def records(records_url):
    from kb.records.crypto import KeyRing

    r = Records(records_url, keyring=None if records_url.startswith("sqlite") else KeyRing.ephemeral())
    r.migrate()
    yield r
    r.close()


def _answer(question="怎么提前还款？", **kw):
    return {"question": question, "answer": "可以在App中申请提前还款。[1]", "citations": [{"n": 1}],
            "flags": [], "abstained": False, "confidence": 0.8, "mode": "extractive", "latency_ms": 12.0, **kw}


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from kb.records.repo import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert len(heads) == 1, f"the migrations must have exactly one head, not {heads}"
    return heads[0]


def test_migrate_is_idempotent_and_reaches_head(records):
    records.migrate()
    assert records.revision() == _head()
    with records.engine.connect() as conn:
        for table in ("users", "api_keys", "interactions", "feedback", "qa_sets", "qa_items", "eval_runs",
                      "eval_results", "audit_events", "web_sessions", "complaints", "follow_ups", "spot_checks"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0


def test_passwords_are_hashed_and_checked(records):
    user = records.add_user("alice", "trainer", password="correct horse")
    assert records.authenticate("alice", "correct horse").id == user.id
    assert records.authenticate("alice", "wrong") is None
    assert records.authenticate("nobody", "correct horse") is None
    with records.engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users")).scalar()
    assert stored.startswith("$argon2") and "correct horse" not in stored
    with pytest.raises(ValidationError):
        records.add_user("alice", "agent")
    with pytest.raises(ValidationError, match="unknown role"):
        records.add_user("bob", "superuser")
    assert records.get_user(user.id).username == "alice"


def test_keys_are_shown_once_stored_hashed_and_revocable(records):
    key, raw = records.create_key("crm", "agent")
    assert raw.startswith(key.prefix) and len(raw) > 40
    assert records.key_for(raw).id == key.id
    assert records.key_for(raw + "x") is None and records.key_for("") is None
    with records.engine.connect() as conn:
        assert raw not in str(conn.execute(text("SELECT * FROM api_keys")).fetchall())
    records.revoke_key(key.prefix)
    assert records.key_for(raw) is None
    with pytest.raises(NotFoundError):
        records.revoke_key("nope")


def test_role_order():
    assert role_at_least("admin", "trainer") and role_at_least("trainer", "trainer")
    assert not role_at_least("agent", "trainer") and not role_at_least(None, "agent")
    assert not role_at_least("root", "agent")


def test_interactions_never_hold_a_raw_personal_number(records):
    iid = records.save_interaction(_answer(f"我的身份证是{ID_NUMBER}，卡号{CARD}，能提前还款吗？"), kind="faq",
                                   snapshot_id="s1", settings_hash="h1")
    records.add_feedback(iid, "edited", edited_reply=f"请核对卡号 {CARD}", comment=f"客户 {ID_NUMBER}")
    row = records.get_interaction(iid)
    assert "[身份证号]" in row.question and row.snapshot_id == "s1" and row.kind == "faq"
    with records.engine.connect() as conn:
        dump = str(conn.execute(text("SELECT * FROM interactions")).fetchall())
        dump += str(conn.execute(text("SELECT * FROM feedback")).fetchall())
    assert ID_NUMBER not in dump and CARD not in dump


def test_feedback_rules(records):
    iid = records.save_interaction(_answer())
    with pytest.raises(NotFoundError):
        records.add_feedback(iid + 999, "accepted")
    with pytest.raises(ValidationError, match="edited reply"):
        records.add_feedback(iid, "edited")
    with pytest.raises(ValidationError):
        records.add_feedback(iid, "maybe")
    assert records.count("feedback") == 0
    records.add_feedback(iid, "rejected", comment="wrong fee")
    assert [f.verdict for f in records.feedback_for(iid)] == ["rejected"]


def test_accuracy_metrics_use_the_last_verdict(records):
    a = records.save_interaction(_answer(), kind="faq", product="loanA")
    b = records.save_interaction(_answer(flags=["complaint"]), product="loanB")
    records.save_interaction(_answer(abstained=True))
    records.add_feedback(a, "rejected")
    records.add_feedback(a, "accepted")
    records.add_feedback(b, "edited", edited_reply="better")
    m = records.accuracy_metrics()
    assert m["overall"]["interactions"] == 3 and m["overall"]["with_feedback"] == 2
    assert m["overall"]["accepted_rate"] == 0.5 and m["overall"]["edited_rate"] == 0.5
    assert m["overall"]["abstention_rate"] == round(1 / 3, 4)
    assert m["per_topic"]["kind:faq"]["accepted_rate"] == 1.0
    assert m["per_topic"]["flag:complaint"]["edited_rate"] == 1.0
    assert m["per_product"]["loanB"]["interactions"] == 1
    assert len(m["per_day"]) == 1


def test_qasets_and_items(records):
    s = records.create_qaset("还款", "repayment questions", author="t1")
    with pytest.raises(ValidationError):
        records.create_qaset("还款")
    items = records.add_items(s.id, [{"question": "逾期怎么办？", "key_points": ["罚息"], "topic": "overdue"},
                                     {"question": "能延期吗？", "answerable": False}])
    assert [i.question for i in records.items(s.id)] == ["逾期怎么办？", "能延期吗？"]
    with pytest.raises(ValidationError):
        records.add_items(s.id, [{"question": "ok"}, {"question": "  "}])
    assert len(records.items(s.id)) == 2  # the bad batch added nothing
    records.update_item(s.id, items[0].id, reviewed="t2", reference_answer="按合同计收罚息。")
    assert records.get_item(s.id, items[0].id).reviewed == "t2"
    records.delete_item(s.id, items[1].id)
    with pytest.raises(NotFoundError):
        records.get_item(s.id, items[1].id)
    records.update_qaset(s.id, name="还款2")
    records.delete_qaset(s.id)
    with pytest.raises(NotFoundError):
        records.items(s.id)


def test_eval_runs_and_trend(records):
    run1 = records.save_eval_run({"overall": {"accuracy": 0.6}, "per_question": [
        {"question": "q1", "topic": "fees", "correct": 1.0, "answer": "x"}]}, "demo")
    started = records.start_eval_run("demo")
    assert records.get_eval_run(started).status == "queued"
    records.save_eval_run({"overall": {"accuracy": 0.7}, "per_topic": {"fees": {"accuracy": 0.7}}}, "demo",
                          run_id=started)
    assert [r.id for r in records.eval_runs("demo")] == [started, run1]
    assert records.eval_results(run1)[0].scores == {"correct": 1.0}
    evals = records.accuracy_metrics()["evals"]
    assert evals[0]["latest"]["score"] == 0.7 and evals[0]["change"] == pytest.approx(0.1)
    with pytest.raises(ValidationError):
        records.save_eval_run({"overall": 3}, "demo")


def test_audit_filters(records):
    records.audit("alice", "key.create", "key 1", {"role": "agent"})
    records.audit("bob", "document.delete", "d_1")
    assert [e.actor for e in records.audit_events(action="key.create")] == ["alice"]
    assert [e.action for e in records.audit_events(actor="bob")] == ["document.delete"]
    assert len(records.audit_events(since=records.now().replace(year=2000))) == 2


def test_settings_snapshot_hides_secrets():
    s = Settings(secret_key="very-secret-value-123", llm_api_key="sk-abc",
                 database_url="postgresql://u:pw@h/db")
    snap = settings_snapshot(s)
    assert "very-secret-value-123" not in str(snap) and "sk-abc" not in str(snap) and "pw@" not in str(snap)
    assert settings_hash(s) == settings_hash(s.model_copy())
    assert settings_hash(s) != settings_hash(s.model_copy(update={"top_k": 9}))


# -- hardening: sessions that can be ended, equal-cost sign-in, masking of everything trainers type --
def test_a_web_session_stands_until_logout_password_change_or_deactivation(records):
    user = records.add_user("sam", "agent", password="pw-12345678")
    token = records.start_session(user.id)
    assert records.session_user(token).id == user.id
    with records.engine.connect() as conn:  # only a hash of the cookie's token is stored
        assert token not in str(conn.execute(text("SELECT * FROM web_sessions")).fetchall())
    records.end_session(token)  # sign-out
    assert records.session_user(token) is None

    first, second = records.start_session(user.id), records.start_session(user.id)
    records.set_password("sam", "a-new-password-1")  # a password change ends every session
    assert records.session_user(first) is None and records.session_user(second) is None

    third = records.start_session(user.id)
    records.set_active("sam", False)
    assert records.session_user(third) is None
    records.set_active("sam", True)
    assert records.session_user(third) is None  # enabling again does not bring a session back
    assert records.session_user("made-up") is None and records.session_user(None) is None

    expired = records.start_session(user.id, days=-1)
    assert records.session_user(expired) is None


def test_an_unknown_user_costs_one_password_check_like_a_known_one(records, monkeypatch):
    from kb.records import repo

    records.add_user("known", "agent", password="pw-12345678")
    records.add_user("keyonly", "agent")  # no password: cannot sign in, but costs the same
    calls = []
    real = repo._hasher

    class Counting:
        def hash(self, password):
            return real.hash(password)

        def verify(self, stored, password):
            calls.append(stored)
            return real.verify(stored, password)

    monkeypatch.setattr(repo, "_hasher", Counting())
    for name in ("known", "nobody", "keyonly"):
        calls.clear()
        assert records.authenticate(name, "wrong-password") is None
        assert len(calls) == 1, name
    assert records.authenticate("keyonly", "") is None


def test_what_trainers_type_is_stored_masked(records):
    s = records.create_qaset(f"客户{ID_NUMBER}的问题", description="联系１３７５５６６７７８８")
    assert ID_NUMBER not in s.name and "１３７５５６６７７８８" not in s.description
    item = records.add_item(s.id, question="卡号扣款失败", reference_answer=f"已核实卡号{CARD}",
                            key_points=["回电13912345678"], topic="还款", tags=["客户13912345678"])
    stored = str([item.reference_answer, item.key_points, item.tags])
    assert CARD not in stored and "13912345678" not in stored
    records.update_qaset(s.id, name="客户13912345678")
    assert "13912345678" not in records.get_qaset(s.id).name
    records.audit("admin", "qaset.import", "x", {"file": "客户13912345678.csv", "rows": [f"{ID_NUMBER}"]})
    detail = str(records.audit_events(action="qaset.import")[0].detail)
    assert "13912345678" not in detail and ID_NUMBER not in detail
