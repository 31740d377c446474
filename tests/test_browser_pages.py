"""The trainer's and admin's pages and the API docs in a real browser (Debian's Chromium driven by
Playwright) against a real `uvicorn` server over a small knowledge base."""

from __future__ import annotations

import re

import pytest

from tests._browser_support import ask, browser, open_page, site  # noqa: F401 - fixtures among them

pytestmark = pytest.mark.browser


def test_trainer_imports_a_yaml_set_and_exports_it_as_yaml(open_page, tmp_path):
    import yaml

    path = tmp_path / "onboarding.yaml"
    path.write_text("name: 入职测试集\ndescription: 新培训师的第一天\nitems:\n"
                    "- id: o-1\n  question: 可以提前还款吗？\n  reference_answer: 借款满3期后可以提前还款。\n"
                    "  key_points: [满3期]\n  expected_sources: [{title: 随心贷产品说明}]\n", encoding="utf-8")
    page = open_page("trainer").page
    page.goto("/trainer/qasets")
    page.set_input_files("#imp-file", str(path))
    page.get_by_role("button", name=re.compile("导入问答集")).click()
    page.wait_for_url(re.compile(r"/trainer/qasets/\d+$"))
    assert page.inner_text("h1") == "入职测试集" and "可以提前还款吗？" in page.input_value("textarea[name=question]")
    exported = page.request.get(page.get_by_role("link", name="导出 YAML").get_attribute("href"))
    data = yaml.safe_load(exported.text())
    assert data["name"] == "入职测试集" and data["items"][0]["key_points"] == ["满3期"]
    assert data["items"][0]["expected_sources"] == [{"title": "随心贷产品说明"}]


def test_trainer_promotes_an_interaction_and_runs_an_eval(site, open_page):
    agent = open_page("agent").page
    ask(agent, "逾期了会怎么样？罚息怎么算？")
    page = open_page("trainer").page
    page.goto("/trainer/review")
    card = page.locator("article.card").filter(has_text="逾期了会怎么样").first
    card.locator("details.promote summary").click()
    card.get_by_label("或新建问答集").fill("浏览器测试集")
    card.get_by_label("要点（每行一条）").fill("罚息\n1.5倍")
    assert card.locator(".review-sources .source").count() >= 1  # the cited sources beside the reply
    card.get_by_role("button", name="评分并加入问答集").click()  # no grade, nothing confirmed: refused
    assert page.locator(".banner.ok").count() == 0 and card.locator("details.promote[open]").count() == 1
    card.get_by_label("评分", exact=True).select_option(label="部分正确")
    card.get_by_label(re.compile("我已对照来源核对")).check()
    card.get_by_role("button", name="评分并加入问答集").click()
    page.wait_for_selector(".banner.ok")
    assert "浏览器测试集" in page.inner_text(".banner.ok")
    page.goto("/trainer/evals")
    page.select_option("#eval-set", label="浏览器测试集")
    page.click("#eval-start")
    page.wait_for_selector("#runs tr[data-run]", timeout=180_000)
    row = page.locator("#runs tbody tr").first
    assert "浏览器测试集" in row.inner_text() and "已完成" in row.inner_text()
    assert row.locator("a").count() == 1
    row.get_by_role("link").click()
    assert "逾期了会怎么样" in page.inner_text("main")
    full = page.get_by_role("link", name="完整 HTML 报告")
    assert page.goto(full.get_attribute("href")).status == 200


def test_admin_uploads_a_document_then_finds_it_by_asking(open_page, tmp_path):
    doc = tmp_path / "cooling_off.md"
    doc.write_text("---\ntitle: 冷静期规定\nkind: regulation\nversion: \"2026.4\"\n---\n# 冷静期规定\n\n"
                   "## 冷静期\n\n借款合同签订后7天内为冷静期，冷静期内客户可以无息取消借款，只需归还本金。\n",
                   encoding="utf-8")
    page = open_page("admin").page
    page.goto("/admin/documents")
    page.set_input_files("#up-file", str(doc))
    page.click("#upload-form button[type=submit]")
    page.wait_for_function("(() => { const p = document.getElementById('upload-progress');"
                           " return p && !p.closest('[hidden]') && p.value === 100; })()")
    page.wait_for_selector("#documents tr:has-text('冷静期规定')", timeout=120_000)  # reloaded once ingested
    page.goto("/sidebar")
    ask(page, "签合同后多少天内可以无息取消借款？")
    assert "冷静期规定" in page.inner_text("#sources")
    for path in ("/admin/health", "/admin/users", "/admin/audit", "/trainer/dashboard", "/trainer/qasets"):
        assert page.goto(path).status == 200, path
    # re-ingest, then delete (after confirming) from the documents page
    page.goto("/admin/documents")
    row = page.locator("#documents tr", has_text="冷静期规定")
    with page.expect_response(lambda r: r.url.endswith("/reingest") and r.status == 202):
        row.get_by_role("button", name=re.compile("重新导入")).click()
    page.wait_for_selector("#upload-status:has-text('处理完成')", timeout=120_000)
    page.wait_for_load_state("load")
    page.once("dialog", lambda d: d.accept())
    page.locator("#documents tr", has_text="冷静期规定").get_by_role("button", name=re.compile("删除")).click()
    page.wait_for_selector("#documents tr:has-text('冷静期规定')", state="detached", timeout=60_000)
    assert page.locator("#documents tbody tr").count() == 3


def test_api_docs_render_with_no_internet(site, open_page):
    base, _ = site
    page = open_page().page
    outside: list[str] = []

    def only_this_server(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:  # as on a machine without internet access
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto("/docs")
    page.locator(".opblock-summary-path", has_text="/api/ask").first.wait_for(timeout=60_000)
    assert page.locator(".opblock").count() > 10 and not outside
