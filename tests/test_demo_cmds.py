"""`citedesk demo accounts`: a newcomer gets a working login and key per role, shown once."""

from __future__ import annotations

import json

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
    assert set(first) == {"agent", "trainer", "admin"}
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
        assert len(records.users()) == 3  # refreshed, not duplicated
    finally:
        records.close()
