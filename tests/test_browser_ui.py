"""The agent's side of the web UI in a real browser (Debian's Chromium driven by Playwright) against
a real `uvicorn` server over a small knowledge base: the sidebar's flow, its banners and errors, and
the widget on a host page (the trainer's and admin's pages: test_browser_pages.py)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kb.records import Records
from tests._browser_support import (  # noqa: F401 - fixtures among them
    ANSWER_TIMEOUT,
    CRM_PORT,
    OTHER_PORT,
    Watched,
    ask,
    browser,
    crm_page,
    open_page,
    sign_in,
    site,
)
from ui.demo_site import build_site, serve

pytestmark = pytest.mark.browser


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


def test_the_copy_button_copies_the_reply_and_never_the_agents_guidance(open_page):
    """A complaint's reply to the customer and the procedure's steps for the agent are shown apart;
    Copy and Edit take the reply alone."""
    page = open_page("agent").page
    ask(page, "你们乱收费，我要投诉！提前还款要收违约金吗？")
    guidance = page.locator("#guidance-box")
    assert guidance.is_visible()
    assert "请勿发送给客户" in guidance.inner_text() and "安抚客户情绪" in page.inner_text("#guidance")
    assert page.locator("#guidance .chip").count() >= 1
    reply = page.inner_text("#reply")
    assert reply.startswith("非常理解您的心情") and "安抚" not in reply
    page.click("#copy")
    page.wait_for_function("document.getElementById('feedback-status').textContent.length > 0")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("非常理解您的心情") and "安抚" not in copied and "坐席" not in copied
    page.click("#edit")
    assert "安抚" not in page.input_value("#edited")
    # a chip in the guidance opens its source, the procedure
    page.locator("#guidance .chip").first.click()
    card = page.locator("#sources .card.active").inner_text()
    assert "客户投诉处理流程" in card and "坐席指引的来源" in card


def test_an_answer_for_the_agent_alone_offers_nothing_to_copy(open_page):
    page = open_page("agent").page
    ask(page, "不能当场解决的问题，要告诉客户多久内有专人联系？")
    assert page.locator("#guidance-box").is_visible() and "24小时" in page.inner_text("#guidance")
    assert "没有可直接发送给客户的答复" in page.inner_text("#reply")
    assert page.locator("#copy").is_disabled() and page.locator("#accept").is_disabled()
