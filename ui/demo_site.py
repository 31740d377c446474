"""A small, self-contained CiteDesk site for the browser tests and the screenshot script: a few
Markdown documents (a product, early repayment, the complaint procedure), one user per role, and a
real `uvicorn` server on 127.0.0.1 over that data directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

PASSWORD = "correct-horse-9"
USERS = {"agent": "agent1", "supervisor": "supervisor1", "trainer": "trainer1", "admin": "admin1"}

DOCS = {
    "suixindai.md": """---
title: 随心贷产品说明
kind: product
product: 随心贷
version: "2026.2"
effective_date: 2026-01-01
---
# 随心贷产品说明

## 额度与期限

随心贷是无抵押的个人消费信用贷款，额度为1000元至200000元。借款期限可选3、6、12、24或36期。

## 利率

随心贷的日利率为0.05%，按日计息。

## 提前还款

借款满3期后可以申请提前还款，提前还款不收取违约金。提前还款需在还款日前3个工作日通过App提交申请，剩余本金一次结清，利息按实际使用天数计算。

## 逾期

逾期后按日收取罚息，罚息利率为借款利率的1.5倍。逾期记录会报送征信系统。
""",
    "complaint.md": """---
title: 客户投诉处理流程
kind: procedure
version: "2026.1"
effective_date: 2026-01-01
---
# 客户投诉处理流程

## 受理时限

收到投诉后24小时内首次响应，向客户告知工单号和预计处理时间。一般投诉在7个工作日内办结。

## 坐席处理步骤

先安抚客户情绪，不打断、不争辩。核实身份后完整记录诉求，不能当场解决的建立投诉工单，并告知客户24小时内会有专人联系。
""",
    "privacy.md": """---
title: 客户信息保护规定
kind: regulation
version: "2025.3"
effective_date: 2025-06-01
---
# 客户信息保护规定

## 身份核验

讨论账户信息前，坐席必须核验客户身份：姓名、身份证号后四位和预留手机号。

## 禁止行为

坐席不得向第三方透露客户的借款信息，不得在通话中完整读出身份证号或银行卡号。
""",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_site(data_dir: Path, docs: dict[str, str] | None = None) -> dict[str, str]:
    """Write and ingest the documents into `data_dir`, create one user per role (password
    PASSWORD); returns {role: username}."""
    from ingest.pipeline import ingest_paths
    from kb.knowledge import KnowledgeBase
    from kb.records import Records
    from kb.settings import Settings

    data_dir = Path(data_dir)
    src = data_dir.parent / f"{data_dir.name}-docs"
    src.mkdir(parents=True, exist_ok=True)
    for name, text in (docs or DOCS).items():
        (src / name).write_text(text, encoding="utf-8")
    settings = Settings(data_dir=data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    with KnowledgeBase.open(settings, writer=True) as kb:
        report = ingest_paths(kb, [src], progress=False)
        if report.errors:
            raise RuntimeError(f"demo documents did not ingest: {report.errors}")
    records = Records.open(settings)
    records.migrate()
    for role, name in USERS.items():
        if records.get_user_by_name(name) is None:
            records.add_user(name, role, PASSWORD)
    records.close()
    return dict(USERS)


@contextmanager
def serve(data_dir: Path, port: int | None = None, timeout: float = 120.0,
          env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `uvicorn` (the real server) over `data_dir`; yields its base URL, stops it afterwards.
    `env` adds CITEDESK_* settings (e.g. an LLM endpoint)."""
    port = port or free_port()
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CITEDESK_")}
    env = {**base_env, "CITEDESK_DATA_DIR": str(Path(data_dir).resolve()), "CITEDESK_ENV": "development",
           "CITEDESK_RATE_LIMIT_PER_MINUTE": "1000", **(env or {})}
    cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning"]
    log = Path(data_dir).parent / f"uvicorn-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start in {timeout:.0f} s")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
