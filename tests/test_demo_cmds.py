"""`citedesk demo accounts`: a newcomer gets a working login and key per role, shown once."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from api.cli import main
from kb.records import Records
from kb.settings import Settings


def _accounts(data_dir):
    result = CliRunner().invoke(main, ["demo", "accounts", "--data-dir", str(data_dir), "--json"])
    assert result.exit_code == 0, result.output
    return {a["role"]: a for a in json.loads(result.output)["accounts"]}


def test_demo_accounts_sign_in_and_refresh(tmp_path):
    data_dir = tmp_path / "data"
    first = _accounts(data_dir)
    assert set(first) == {"agent", "supervisor", "trainer", "admin"}
    records = Records(Settings(data_dir=data_dir).records_url)
    try:
        for role, acc in first.items():
            user = records.authenticate(acc["username"], acc["password"])
            assert user is not None and user.role == role
            assert records.key_for(acc["api_key"]).role == role

        second = _accounts(data_dir)
        admin_old, admin_new = first["admin"], second["admin"]
        assert records.authenticate(admin_old["username"], admin_old["password"]) is None
        assert records.authenticate(admin_new["username"], admin_new["password"]) is not None
        assert records.key_for(admin_old["api_key"]) is None  # the old demo key is revoked
        assert records.key_for(admin_new["api_key"]).role == "admin"
        assert len(records.users()) == 4  # refreshed, not duplicated
    finally:
        records.close()


def test_demo_qasets_loads_the_demo_set_once(tmp_path):
    from evals.qaset import load_qaset

    data_dir = tmp_path / "data"
    demo = load_qaset(Path(__file__).resolve().parent.parent / "evals" / "sets" / "demo.yaml")
    runs = []
    for _ in range(2):
        result = CliRunner().invoke(main, ["demo", "qasets", "--data-dir", str(data_dir), "--json"])
        assert result.exit_code == 0, result.output
        runs.append(json.loads(result.output)["qasets"])
    assert runs[0] == [{"name": "demo", "items": len(demo.items), "status": "loaded"}]
    assert runs[1][0]["status"] == "already there"
    records = Records(Settings(data_dir=data_dir).records_url)
    try:
        [qaset] = [s for s in records.qasets() if s.name == "demo"]  # not loaded twice
        items = records.items(qaset.id)
        assert len(items) == len(demo.items) == 119
        first = demo.items[0]
        stored = next(i for i in items if i.question == first.question)
        assert stored.reference_answer == first.reference_answer and stored.key_points == first.key_points
        assert stored.expected_sources == [s.to_dict() for s in first.expected_sources]
    finally:
        records.close()
