"""The web UI in a real browser (Debian's Chromium driven by Playwright) against a real `uvicorn`
server over a small knowledge base: the agent's flow, the widget, trainer and admin pages."""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kb.records import Records
from kb.settings import Settings
from ui.demo_site import PASSWORD, build_site, free_port, serve

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ANSWER_TIMEOUT = 90_000  # ms; the first answer loads the embedder


# A CRM page on another origin that may embed CiteDesk (CITEDESK_FRAME_ANCESTORS), and one that may not.
CRM_PORT, OTHER_PORT = free_port(), free_port()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    pytest.importorskip("playwright.sync_api")
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    build_site(data_dir)
    with serve(data_dir, env={"CITEDESK_FRAME_ANCESTORS": f"http://127.0.0.1:{CRM_PORT}"}) as base:
        yield base, Settings(data_dir=data_dir)


@contextmanager
def crm_page(port: int, citedesk: str):
    """A host page of another origin that loads the widget with one <script> tag."""
    page = (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>CRM</title>'
            f'<link rel="icon" href="data:,"></head>'
            f'<body><h1>客户工单 #1024</h1><script src="{citedesk}/widget.js"></script></body></html>').encode()

    class Host(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            self.send_response(200 if self.path == "/" else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page if self.path == "/" else b"")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


class Watched:
    """A page whose console errors and uncaught exceptions are collected."""

    def __init__(self, context):
        self.context = context
        self.page = context.new_page()
        self.errors: list[str] = []
        self.allowed: list[str] = []  # console messages a test expects (a page it is refused)
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("response", lambda r: self.errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)


@pytest.fixture
def open_page(site, browser):
    base, _ = site
    made: list[Watched] = []

    def make(role: str | None = None, width: int = 1100, lang: str | None = None) -> Watched:
        context = browser.new_context(base_url=base, viewport={"width": width, "height": 900},
                                      permissions=["clipboard-read", "clipboard-write"])
        if lang:
            context.add_cookies([{"name": "lang", "value": lang, "url": base}])
        w = Watched(context)
        made.append(w)
        if role:
            sign_in(w.page, {"agent": "agent1", "trainer": "trainer1", "admin": "admin1"}[role])
        return w

    yield make
    errors = [e for w in made for e in w.errors if not any(a in e for a in w.allowed)]
    for w in made:
        w.context.close()
    assert not errors, f"JavaScript errors: {errors}"


def sign_in(page, username: str) -> None:
    page.goto("/login")
    page.get_by_label(re.compile("用户名|User name")).fill(username)
    page.get_by_label(re.compile("^(密码|Password)$")).fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/sidebar$"))


def ask(page, question: str) -> None:
    """Ask with Ctrl+Enter and wait for this answer (each answer bumps #result[data-seq])."""
    before = page.get_attribute("#result", "data-seq") or "0"
    page.fill("#question", question)
    page.press("#question", "Control+Enter")
    page.wait_for_selector(f"#result:not([hidden]):not([data-seq='{before}'])", timeout=ANSWER_TIMEOUT)


def test_agent_asks_opens_a_source_copies_edits_and_accepts(site, open_page):
    _, settings = site
    w = open_page("agent", width=320)  # the sidebar works at its narrowest
    page = w.page
    ask(page, "可以提前还款吗？要收违约金吗？")
    reply = page.inner_text("#reply")
    assert "违约金" in reply
    chips = page.locator("#reply .chip")
    assert chips.count() >= 1
    assert page.locator("#sources .card").count() >= 1
    assert "随心贷产品说明" in page.inner_text("#sources")
    assert re.search(r"\d+", page.inner_text("#latency"))
    # keyboard: focus the first chip, Enter expands and focuses its source card
    chips.first.focus()
    page.keyboard.press("Enter")
    card = page.locator("#sources .card.active")
    card.locator(".passage[data-loaded]:not([hidden])").wait_for()  # the chunk text has arrived
    assert "提前还款" in card.locator(".passage").inner_text()
    quote = card.locator(".quote mark").inner_text()
    assert quote and card.locator(".passage mark").inner_text() == quote
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # :focus-visible
    # copy (with Space, from the keyboard): the reply without [n] markers
    page.focus("#copy")
    page.keyboard.press("Space")
    page.wait_for_function("document.getElementById('feedback-status').textContent.length > 0")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "违约金" in copied and not re.search(r"\[\d+\]", copied)
    # edit, save the edited version, then accept
    page.click("#edit")
    page.fill("#edited", "您好，借款满3期后可以提前还款，不收违约金。")
    page.click("#save-edit")
    page.wait_for_function("document.getElementById('feedback-status').textContent.includes('修改')")
    page.click("#accept")
    page.wait_for_function("document.getElementById('feedback-status').textContent.includes('采纳')")
    records = Records(settings.records_url)
    try:
        it = records.interactions(limit=1)[0]
        verdicts = [(f.verdict, f.edited_reply) for f in records.feedback_for(it.id)]
    finally:
        records.close()
    assert verdicts == [("edited", "您好，借款满3期后可以提前还款，不收违约金。"), ("accepted", None)]
    # the history remembers the question for this session
    assert "可以提前还款吗" in page.inner_text("#history")
    # the source link opens the document at the cited passage, highlighted
    href = page.locator("#sources .card .open-doc").first.get_attribute("href")
    page.goto(href)
    chunk_id = href.split("#", 1)[1]
    assert page.locator(f"[id='{chunk_id}']").get_attribute("class").count("highlight") == 1
    assert page.evaluate("document.activeElement.id") == chunk_id


def test_complaint_compliance_and_abstain_banners(open_page):
    page = open_page("agent").page
    ask(page, "你们乱收费，我要投诉！")
    banner = page.locator("#complaint-banner")
    assert banner.is_visible()
    assert "投诉处理流程" in banner.inner_text()
    assert banner.locator("a[href^='/documents/']").count() == 1
    ask(page, "火星上今天的天气怎么样")
    page.wait_for_selector("#abstain-banner")
    assert "知识库中没有依据 — 请升级处理" in page.inner_text("#abstain-banner")
    assert page.locator("#complaint-banner").count() == 0
    ask(page, "帮我查一下我随心贷还欠多少钱")
    page.wait_for_selector("#abstain-banner")
    assert "请核实客户身份后在业务系统中查询" in page.inner_text("#abstain-banner")
    ask(page, "房东不退押金还说我弄坏了家具，我该怎么办？")
    page.wait_for_selector("#abstain-banner")
    assert "不属于消费信贷业务" in page.inner_text("#abstain-banner")
    ask(page, "随心贷的日利率是多少？")
    assert "0.05%" in page.inner_text("#reply")
    compliance = page.locator(".banner.compliance")
    assert compliance.count() == 1 and "rate_annualised" in compliance.inner_text()
    assert page.locator("#abstain-banner").count() == 0


def test_english_sidebar_and_agent_cannot_open_admin_pages(site, open_page):
    w = open_page("agent", lang="en")
    w.allowed += ["status of 403", "HTTP 403: "]
    page = w.page
    assert page.get_attribute("html", "lang") == "en"
    assert page.get_by_label("The customer's question").is_visible()
    assert page.locator("nav a[href^='/admin']").count() == 0
    resp = page.goto("/admin/documents")
    assert resp.status == 403
    assert "Not allowed" in page.inner_text("h1")


def test_widget_opens_the_sidebar_on_a_host_page(open_page):
    w = open_page("agent")
    page = w.page
    page.goto("/widget-demo")
    toggle = page.locator("#citedesk-toggle")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    frame_el = page.locator("#citedesk-panel iframe")
    frame_el.wait_for()
    assert toggle.get_attribute("aria-expanded") == "true"
    frame = page.frame_locator("#citedesk-panel iframe")
    frame.locator("#question").wait_for()
    box = frame_el.bounding_box()
    assert box["x"] + box["width"] >= 1099 and box["width"] <= 400  # docked at the right edge


def test_widget_on_the_crm_origin_opens_the_signed_in_sidebar(site, open_page):
    base, _ = site
    page = open_page("agent").page  # signed in to CiteDesk in this browser profile
    with crm_page(CRM_PORT, base) as crm:
        page.goto(crm)
        page.locator("#citedesk-toggle").click()
        frame = page.frame_locator("#citedesk-panel iframe")
        frame.locator("#question").fill("可以提前还款吗？")
        frame.locator("#question").press("Control+Enter")
        frame.locator("#reply").wait_for(timeout=ANSWER_TIMEOUT)
        assert "[1]" in frame.locator("#reply").inner_text() or frame.locator("#reply .chip").count() > 0


def test_a_page_of_another_origin_cannot_frame_citedesk(site, open_page):
    base, _ = site
    w = open_page("agent")
    w.allowed += ["Refused to frame", "frame-ancestors"]
    page = w.page
    with crm_page(OTHER_PORT, base) as other:
        page.goto(other)
        page.locator("#citedesk-toggle").click()
        page.locator("#citedesk-panel iframe").wait_for()
        page.wait_for_timeout(1500)
        sidebar = [f for f in page.frames if f.url.startswith(base)]
        assert not sidebar or not sidebar[0].query_selector("#question")  # the browser refused to render it
        assert any("frame-ancestors" in e for e in w.errors)


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


class _BrokenLLM(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that is down: every request gets 503."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "overloaded"}}')

    def log_message(self, *args):
        pass


def test_llm_unavailable_banner_when_the_language_model_is_down(site, browser, tmp_path):
    llm = ThreadingHTTPServer(("127.0.0.1", 0), _BrokenLLM)
    threading.Thread(target=llm.serve_forever, daemon=True).start()
    data_dir = tmp_path / "data"
    build_site(data_dir)
    env = {"CITEDESK_LLM_BASE_URL": f"http://127.0.0.1:{llm.server_address[1]}/v1", "CITEDESK_LLM_MODEL": "stand-in"}
    try:
        with serve(data_dir, env=env) as base:
            context = browser.new_context(base_url=base)
            w = Watched(context)
            sign_in(w.page, "agent1")
            ask(w.page, "可以提前还款吗？要收违约金吗？")
            banner = w.page.locator(".banner.info")
            assert "语言模型暂不可用" in banner.inner_text()
            assert "违约金" in w.page.inner_text("#reply")  # the extractive reply still comes
            context.close()
            assert not w.errors, w.errors
    finally:
        llm.shutdown()


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


def test_an_error_clears_the_reply_and_is_said_in_the_ui_language(site, open_page):
    w = open_page("agent")
    w.allowed += ["status of 422", "HTTP 422: ", "status of 503", "HTTP 503: ", "net::ERR_FAILED"]
    page = w.page
    ask(page, "可以提前还款吗？")
    assert page.locator("#copy").is_visible() and page.inner_text("#reply")
    # the text box counts characters against the limit, and says when a question is over it
    page.fill("#question", "提前还款" * 1000 + "吗")
    assert page.inner_text("#question-count") == "4001 / 4000 字"
    assert "over" in page.get_attribute("#question-count", "class")
    page.press("#question", "Control+Enter")
    page.wait_for_selector("#error-banner")
    assert "问题太长：4001 字，最多 4000 字" in page.inner_text("#error-banner")
    assert page.locator("#result").is_hidden() and page.locator("#sources-box").is_hidden()
    assert not page.locator("#copy").is_visible() and not page.locator("#accept").is_visible()

    # the server's own 422 (the request made longer on its way) is translated too, not shown raw
    def lengthen(route):
        route.continue_(post_data=json.dumps({"question": "还款" * 2001}))

    ask(page, "可以提前还款吗？")
    page.route("**/api/ask", lengthen)
    page.fill("#question", "逾期会上征信吗？")
    assert page.inner_text("#question-count") == "8 / 4000 字"
    page.press("#question", "Control+Enter")
    page.wait_for_selector("#error-banner")
    text = page.inner_text("#error-banner")
    assert "长度上限" in text and "at most" not in text and "question" not in text
    assert page.locator("#result").is_hidden() and page.inner_text("#reply") == ""
    page.unroute("**/api/ask")

    # a server that is down or busy: the same, in the agent's language
    page.route("**/api/ask", lambda route: route.abort())
    page.fill("#question", "逾期会上征信吗？")
    page.press("#question", "Control+Enter")
    page.wait_for_function("document.getElementById('error-banner') && "
                           "document.getElementById('error-banner').textContent.includes('无法连接服务器')")
    page.unroute("**/api/ask")


def test_errors_in_the_english_sidebar_are_in_english(site, open_page):
    w = open_page("agent", lang="en")
    w.allowed += ["status of 503", "HTTP 503: "]
    page = w.page
    page.fill("#question", "x" * 4001)
    assert page.inner_text("#question-count") == "4001 / 4000 characters"
    page.press("#question", "Control+Enter")
    page.wait_for_selector("#error-banner")
    assert "The question is too long: 4001 characters, at most 4000" in page.inner_text("#error-banner")
    page.route("**/api/ask", lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"detail": "store unavailable", "error": "StoreError"}'))
    page.fill("#question", "Can I repay early?")
    page.press("#question", "Control+Enter")
    page.wait_for_function("document.getElementById('error-banner').textContent.includes('being updated')")
    assert "store unavailable" not in page.inner_text("#error-banner")
