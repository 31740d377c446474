"""The operations commands: keys, users, serve's safety check, and backup/restore — including a
backup taken through a running `citedesk serve` that owns the data directory."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest
from _api_support import build_kb, running_server
from click.testing import CliRunner

from api.cli import main
from kb.knowledge import KnowledgeBase
from kb.records import Records
from kb.settings import Settings, get_settings


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


def run(*args: str, input: str | None = None, env: dict | None = None):
    return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


def test_keys_create_list_revoke(data_dir):
    created = run("keys", "create", "--role", "trainer", "--name", "qa-bot", "--json", "--data-dir", str(data_dir))
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)
    assert key["key"].startswith(key["prefix"]) and key["role"] == "trainer"
    records = Records(Settings(data_dir=data_dir).records_url)
    assert records.key_for(key["key"]).name == "qa-bot"
    listed = json.loads(run("keys", "list", "--json", "--data-dir", str(data_dir)).output)["keys"]
    assert listed[0]["prefix"] == key["prefix"] and key["key"] not in json.dumps(listed)
    assert run("keys", "revoke", key["prefix"], "--data-dir", str(data_dir)).exit_code == 0
    assert records.key_for(key["key"]) is None
    missing = run("keys", "revoke", "cdk_nothing", "--data-dir", str(data_dir))
    assert missing.exit_code == 2 and "no API key" in missing.output
    bad_role = run("keys", "create", "--role", "root", "--name", "x", "--data-dir", str(data_dir))
    assert bad_role.exit_code == 2
    actions = [e.action for e in records.audit_events()]
    assert actions[:2] == ["key.revoke", "key.create"]


def test_users_add_and_list(data_dir):
    added = run("users", "add", "lin", "--role", "agent", "--password-stdin", "--data-dir", str(data_dir),
                input="a-long-password\n")
    assert added.exit_code == 0, added.output
    records = Records(Settings(data_dir=data_dir).records_url)
    assert records.authenticate("lin", "a-long-password").role == "agent"
    again = run("users", "add", "lin", "--role", "agent", "--data-dir", str(data_dir))
    assert again.exit_code == 2 and "already exists" in again.output
    short = run("users", "add", "kim", "--role", "agent", "--password-stdin", "--data-dir", str(data_dir), input="x\n")
    assert short.exit_code == 2 and records.get_user_by_name("kim") is None
    listed = json.loads(run("users", "list", "--json", "--data-dir", str(data_dir)).output)["users"]
    assert listed == [{"id": 1, "username": "lin", "role": "agent", "active": True, "team": None,
                       "has_password": True}]
    teamed = run("users", "team", "lin", "一组", "--data-dir", str(data_dir))
    assert teamed.exit_code == 0 and "一组" in teamed.output
    assert json.loads(run("users", "list", "--json", "--data-dir", str(data_dir)).output)["users"][0]["team"] == "一组"
    assert run("users", "team", "nobody", "一组", "--data-dir", str(data_dir)).exit_code == 2


def test_serve_refuses_a_placeholder_secret_in_production(data_dir, monkeypatch):
    monkeypatch.setenv("CITEDESK_ENV", "production")
    monkeypatch.setenv("CITEDESK_SECRET_KEY", "change-me")
    get_settings.cache_clear()
    try:
        result = run("serve", "--data-dir", str(data_dir))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 2 and "CITEDESK_SECRET_KEY" in result.output


def test_serve_refuses_a_data_directory_another_writer_holds(data_dir):
    from kb.index.locking import WriterLock

    lock = WriterLock(data_dir)
    lock.acquire()
    try:
        result = run("serve", "--data-dir", str(data_dir))
    finally:
        lock.release()
    assert result.exit_code == 2 and "being written by another process" in result.output


def test_backup_and_restore_without_a_server(tmp_path, data_dir):
    settings = Settings(data_dir=data_dir)
    build_kb(settings)
    archive = tmp_path / "site.tar.gz"
    made = run("backup", str(archive), "--json", "--data-dir", str(data_dir))
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["files"] > 3
    (data_dir / "catalog.sqlite").write_bytes(b"ruined")
    restored = run("restore", str(archive), "--data-dir", str(data_dir))
    assert restored.exit_code == 0, restored.output
    assert (data_dir / "catalog.sqlite").read_bytes().startswith(b"SQLite format 3")
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(archive.read_bytes()[:-200])
    refused = run("restore", str(damaged), "--data-dir", str(data_dir))
    assert refused.exit_code == 2 and "damaged" in refused.output


@pytest.mark.slow
def test_backup_goes_through_a_running_server(tmp_path, data_dir):
    settings = Settings(data_dir=data_dir)
    build_kb(settings)
    key = json.loads(run("keys", "create", "--role", "admin", "--name", "ops", "--json",
                         "--data-dir", str(data_dir)).output)["key"]
    agent = json.loads(run("keys", "create", "--role", "agent", "--name", "a", "--json",
                           "--data-dir", str(data_dir)).output)["key"]
    with running_server(data_dir) as url:
        admin = {"Authorization": f"Bearer {key}"}
        up = httpx.post(f"{url}/api/documents", headers=admin,
                        files={"file": ("fees.md", "# 手续费\n\n## 提现\n\n提现免收手续费，当日到账。\n".encode())})
        for _ in range(300):
            job = httpx.get(f"{url}/api/documents/jobs/{up.json()['id']}", headers=admin).json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
        assert job["status"] == "done", job
        query = {"query": "提现手续费", "k": 5}
        live = httpx.post(f"{url}/api/search", json=query, headers={"Authorization": f"Bearer {agent}"}).json()
        archive = tmp_path / "live.tar.gz"
        no_key = run("backup", str(archive), "--server", url, "--data-dir", str(data_dir),
                     env={"CITEDESK_API_KEY": ""})
        assert no_key.exit_code == 2 and "admin key" in no_key.output
        weak = run("backup", str(archive), "--server", url, "--api-key", agent, "--data-dir", str(data_dir))
        assert weak.exit_code == 2 and "403" in weak.output and not archive.exists()
        made = run("backup", str(archive), "--server", url, "--api-key", key, "--json", "--data-dir", str(data_dir))
        assert made.exit_code == 0, made.output
        assert json.loads(made.output)["files"] > 3
        busy = run("restore", str(archive), "--data-dir", str(data_dir))
        assert busy.exit_code == 2 and "being written by another process" in busy.output
    shutil.rmtree(data_dir / "chroma")
    assert run("restore", str(archive), "--data-dir", str(data_dir)).exit_code == 0
    with KnowledgeBase.open(settings) as kb:
        restored = [h.chunk.chunk_id for h in kb.search(query["query"], k=5)]
    assert restored == [r["chunk_id"] for r in live["results"]] and "提现免收" in live["results"][0]["text"]
