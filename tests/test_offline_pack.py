"""The offline pack: one self-contained HTML file of the FAQs, procedures and products in force
(`citedesk export offline-pack`), opened from disk in Chromium with the network off and searched
in either script."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from ingest.pipeline import ingest_bytes
from kb.knowledge import KnowledgeBase
from kb.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

DOCS = {
    "loan_2026.md": "---\ntitle: 随心贷产品说明\nkind: product\nproduct: 随心贷\nversion: \"2026.1\"\n"
                    "effective_date: 2026-01-01\n---\n# 随心贷产品说明\n\n## 提前还款\n\n借款满3期后可以申请提前还款，"
                    "提前还款不收取违约金。\n\n## 逾期\n\n逾期后按日收取罚息。\n",
    "loan_2020.md": "---\ntitle: 随心贷产品说明（旧版）\nkind: product\nproduct: 随心贷\nversion: \"2020.1\"\n"
                    "effective_date: 2020-01-01\nexpiry_date: 2021-01-01\n---\n# 旧版\n\n## 提前还款\n\n"
                    "旧版规定提前还款收取本金百分之三的违约金。\n",
    "complaints.md": "---\ntitle: 客户投诉处理流程\nkind: procedure\n---\n# 客户投诉处理流程\n\n## 受理时限\n\n"
                     "收到投诉后24小时内首次响应。\n",
    "law.md": "---\ntitle: 某某条例\nkind: regulation\n---\n# 某某条例\n\n第一条 为了规范消费信贷，制定本条例。\n\n"
              "第二条 本条例适用于消费信贷。\n",
    "faq.csv": "question,answer,similar_questions\n忘记登录密码怎么办,在App登录页点击忘记密码重置。,密码忘了|登不上去\n",
}


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    settings = Settings(data_dir=root / "data")
    with KnowledgeBase.open(settings, writer=True) as kb:
        for name, text in DOCS.items():
            assert ingest_bytes(kb, name, text.encode("utf-8")).ok
    result = CliRunner().invoke(main, ["export", "offline-pack", str(root / "out"), "--data-dir",
                                       str(settings.data_dir), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    return Path(info["file"]), info


def test_the_pack_holds_the_documents_in_force_and_nothing_from_outside(pack):
    path, info = pack
    html = path.read_text(encoding="utf-8")
    assert path.name == "index.html" and info["documents"] == 3 and info["passages"] >= 4
    assert "提前还款不收取违约金" in html and "24小时内首次响应" in html and "忘记登录密码怎么办" in html
    assert "百分之三" not in html  # the expired version is not in force
    assert "为了规范消费信贷" not in html  # statutes are not among the default kinds
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched from elsewhere
    assert "<link" not in html.replace('<link rel="icon"', "")
    data = json.loads(re.search(r'<script type="application/json" id="pack-data">(.*?)</script>', html, re.S).group(1))
    assert data["t2s"]["還"] == "还" and len(data["index"]) == info["passages"]
    assert any("密码忘了" in e["s"] for e in data["index"])  # an FAQ's colloquial variants are searchable


def test_an_empty_knowledge_base_exports_nothing(tmp_path):
    result = CliRunner().invoke(main, ["export", "offline-pack", str(tmp_path / "out"), "--data-dir",
                                       str(tmp_path / "data")])
    assert result.exit_code == 2 and "empty" in result.output
    assert not (tmp_path / "out" / "index.html").exists()


@pytest.mark.browser
def test_the_pack_opens_from_disk_and_searches_with_the_network_off(pack):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    sync_api = pytest.importorskip("playwright.sync_api")
    path, _ = pack
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        context = browser.new_context(offline=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(path.as_uri())
        page.fill("#q", "提前還款要違約金嗎")  # Traditional script
        page.press("#q", "Enter")
        first = page.locator("#results li").first
        first.wait_for()
        assert "随心贷产品说明" in first.inner_text() and "提前还款" in first.inner_text()
        assert page.locator("#results li mark").count() >= 1
        first.locator("a").click()
        assert page.evaluate("location.hash").startswith("#p-")
        assert "不收取违约金" in page.locator(":target").inner_text()
        page.fill("#q", "密码忘了")
        page.press("#q", "Enter")
        page.wait_for_function("document.querySelector('#results li') && "
                               "document.querySelector('#results li').textContent.includes('忘记登录密码')")
        page.fill("#q", "火星天气")
        page.press("#q", "Enter")
        page.wait_for_function("document.getElementById('status').textContent.includes('没有找到')")
        assert page.locator("#results li").count() == 0
        assert errors == [] and all(u.startswith("file://") for u in requests)
        context.close()
        browser.close()
