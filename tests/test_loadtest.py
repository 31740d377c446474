"""The load script: refuses anything but loopback, and against a real `citedesk serve` with
concurrent clients and an upload in progress finds no 5xx and no lost feedback."""

from __future__ import annotations

import asyncio
import json

import pytest
from _api_support import build_kb, running_server
from click.testing import CliRunner

from api.cli import main as cli
from api.loadtest import main, run
from kb.settings import Settings


def test_only_loopback_and_bounded():
    with pytest.raises(SystemExit) as exc:
        main(["--url", "http://10.1.2.3:8000", "--key", "k", "--admin-key", "a"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["--key", "k", "--admin-key", "a", "--clients", "5000"])


@pytest.mark.slow
def test_concurrent_asks_with_feedback_during_an_upload(tmp_path):
    data_dir = tmp_path / "data"
    build_kb(Settings(data_dir=data_dir))

    def key(role: str) -> str:
        out = CliRunner().invoke(cli, ["keys", "create", "--role", role, "--name", role, "--json",
                                       "--data-dir", str(data_dir)])
        return json.loads(out.output)["key"]

    agent, admin = key("agent"), key("admin")
    with running_server(data_dir, CITEDESK_RATE_LIMIT_PER_MINUTE="100000") as url:
        report = asyncio.run(run(url, agent, admin, clients=10, duration=8))
    assert report["checks"] == {"no_5xx": True, "no_lost_feedback": True, "upload_ingested": True}, report
    # behaviour, not speed: on a busy machine ten clients may get only a few answers in 8 s, and
    # every one of them must have been answered and its feedback counted (throughput: make bench)
    assert report["feedback_posted"] >= 1 and report["p50_ms"] is not None
    assert report["p95_ms"] >= report["p50_ms"]
