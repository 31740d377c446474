"""Helpers for the API tests: a running app on a small real knowledge base, keys per role,
and a signed session cookie like the web pages set."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner

from api.app import create_app
from ingest.pipeline import ingest_bytes
from kb.knowledge import KnowledgeBase
from kb.records import ROLES
from kb.settings import Settings

DOCS = {
    "repay.md": "# 提前还款\n\n## 申请方式\n\n客户可以在App中申请提前还款，提前还款不收取违约金。\n\n"
                "## 到账时间\n\n提前还款后一个工作日内结清，结清证明可在App下载。\n",
    "overdue.md": "# 逾期处理\n\n## 罚息\n\n逾期后按日万分之五计收罚息，最长不超过合同约定上限。\n\n"
                  "## 征信\n\n逾期超过30天可能上报征信。\n",
}


@dataclass
class Api:
    client: TestClient
    settings: Settings
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def app(self):
        return self.client.app

    @property
    def records(self):
        return self.app.state.records

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def build_kb(settings: Settings, docs: dict[str, str] = DOCS) -> None:
    with KnowledgeBase.open(settings, writer=True) as kb:
        for name, text in docs.items():
            assert ingest_bytes(kb, name, text.encode("utf-8")).ok


def settings_for(data_dir: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    url = database_url if database_url and "postgresql" in database_url else None
    return Settings(data_dir=data_dir, database_url=url, **{"rate_limit_per_minute": 100000, **overrides})


def start(settings: Settings):
    """Context manager: a TestClient on create_app(settings), lifespan run; yields an Api with keys."""
    from contextlib import contextmanager

    @contextmanager
    def cm():
        with TestClient(create_app(settings)) as client:
            if settings.shared:  # a shared reader connects in the background: wait until it serves
                import time

                deadline = time.monotonic() + 120
                while client.get("/healthz").status_code != 200 and time.monotonic() < deadline:
                    time.sleep(0.2)
            api = Api(client=client, settings=settings)
            for role in ROLES:
                api.keys[role] = api.records.create_key(f"test-{role}", role)[1]
            yield api

    return cm()


def session_cookie(secret: str, data: dict[str, Any]) -> str:
    """The value Starlette's SessionMiddleware would set for `data`."""
    raw = base64.b64encode(json.dumps(data).encode("utf-8"))
    return TimestampSigner(secret).sign(raw).decode("utf-8")


def running_server(data_dir: Path, **env: str):
    """Context manager: `citedesk serve` in a subprocess on a free loopback port; yields its URL."""
    import os
    import subprocess
    import sys
    import time
    from contextlib import contextmanager

    import httpx

    from ui.demo_site import free_port

    @contextmanager
    def cm():
        port = free_port()
        full_env = {**os.environ, "CITEDESK_DATA_DIR": str(data_dir), **env}
        proc = subprocess.Popen([sys.executable, "-c", "from api.cli import main; main()", "serve", "--port", str(port)],
                                env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start: " + proc.stderr.read().decode(errors="replace")[-2000:])
                time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    return cm()
