"""The complaint flow in a real browser against a real server: an agent drafts a complaint from
the sidebar, edits and saves it; it becomes overdue and a supervisor sees it counted; the agent
routes it, records the result and the follow-up call, closes it; a trainer promotes it into a
past case; a later agent's reply cites it. And the sidebar's outage notice."""

from __future__ import annotations

import re
import time

import pytest
from _browser_support import ANSWER_TIMEOUT, CHROMIUM, browser  # noqa: F401 - browser is a fixture

from ui.demo_site import PASSWORD, build_site, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# the demo procedure's departments, with a first response due a second after receipt so the test
# sees a complaint become overdue without waiting a day
RULES = """ticket_prefix: TS
timezone: Asia/Shanghai
default_department: 消费者权益保护部
deadlines: {response_hours: 0.0003}
routes:
  - topic: 利息费用
    keywords: [利息, 费用, 手续费]
    department: 财务核算组
  - topic: 催收
    keywords: [催收, 骚扰]
    department: 贷后管理部
"""
COMPLAINT = "你们的催收员天天打电话到我单位，还跟我同事说我欠钱不还，我要投诉！"
LATER = "催收打电话到我公司跟同事说我欠钱，这样可以吗？"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("browser-complaints")
    data_dir = root / "data"
    build_site(data_dir)
    rules = root / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = {"CITEDESK_COMPLAINT_RULES": str(rules), "CITEDESK_OFFLINE_PACK_URL": "file:///S:/citedesk/index.html"}
    with serve(data_dir, env=env) as base:
        yield base


def page_for(browser, base: str, username: str, errors: list[str]):
    context = browser.new_context(base_url=base, viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(re.compile(r"/sidebar$"))
    return page


def ask(page, question: str) -> None:
    before = page.get_attribute("#result", "data-seq") or "0"
    page.fill("#question", question)
    page.press("#question", "Control+Enter")
    page.wait_for_selector(f"#result:not([hidden]):not([data-seq='{before}'])", timeout=ANSWER_TIMEOUT)


def test_draft_save_route_overdue_follow_up_close_promote_cite(site, browser):
    errors: list[str] = []
    agent = page_for(browser, site, "agent1", errors)
    ask(agent, COMPLAINT)
    assert agent.locator("#complaint-banner").is_visible()
    button = agent.locator("#record-complaint")
    assert button.is_visible() and button.get_attribute("class") == ""  # a complaint: the action stands out
    button.click()
    agent.wait_for_selector("#complaint-form:not([hidden])")
    assert agent.input_value("#c-topic") == "催收"
    assert "打电话到我单位" in agent.input_value("#c-narrative")
    routing = agent.inner_text("#c-routing")
    assert "贷后管理部" in routing and "23:59:59" in routing  # the deadline's day ends in Shanghai time
    assert "投诉处理流程" in agent.inner_text("#c-step-box")  # the procedure's step, quoted with its source
    agent.fill("#c-request", "要求停止联系我的同事并向我道歉")
    agent.click("#c-save")
    saved = agent.locator("#complaint-saved")
    saved.wait_for()
    ticket = re.search(r"TS\d{8}-\d{5}", saved.inner_text()).group(0)
    href = saved.get_attribute("href")
    time.sleep(1.5)  # the first response (due a second after receipt) is now late

    boss = page_for(browser, site, "supervisor1", errors)
    boss.goto("/service")
    assert int(boss.inner_text("#overdue-count")) >= 1
    boss.goto("/complaints?overdue=1")
    row = boss.locator("#complaints tr", has_text=ticket)
    assert "响应超时" in row.inner_text()

    agent.goto(href)
    assert "要求停止联系我的同事并向我道歉" in agent.content()
    agent.click("#route")
    agent.wait_for_selector("#done")
    assert agent.inner_text("#status") == "已转交"
    agent.fill("#v-resolution", "核实后确认催收员违规向客户同事透露欠款信息，已对催收员处罚并停止联系第三人，向客户致歉。")
    agent.click("#resolve")
    agent.wait_for_selector("#followup")
    agent.check("#followup input[value=satisfied]")
    agent.fill("#f-note", "客户表示满意")
    agent.click("#record-followup")
    agent.wait_for_selector("#close:not([disabled])")
    agent.click("#close")
    agent.wait_for_selector("#done")
    assert agent.inner_text("#status") == "已关闭"
    history = agent.inner_text("#history-list")
    for step in ("登记", "转交", "记录处理结果", "回访", "关闭"):
        assert step in history

    trainer = page_for(browser, site, "trainer1", errors)
    trainer.goto(href)
    assert "催收员" in trainer.input_value("#p-resolution")
    trainer.click("#promote-case")
    trainer.wait_for_selector("#promoted")

    other = page_for(browser, site, "agent1", errors)
    ask(other, LATER)
    assert "历史案例：投诉案例" in other.inner_text("#sources")
    assert "催收员" in other.inner_text("#reply") + other.inner_text("#guidance-box")  # a past case guides the agent
    assert errors == []


def test_the_sidebar_says_when_citedesk_cannot_be_reached(site, browser):
    errors: list[str] = []
    page = page_for(browser, site, "agent1", errors)
    assert page.locator("#outage").is_hidden()
    page.context.set_offline(True)
    page.fill("#question", "提前还款要收违约金吗？")
    page.press("#question", "Control+Enter")
    page.wait_for_selector("#outage:not([hidden])")
    assert "无法连接 CiteDesk" in page.inner_text("#outage")
    assert page.get_attribute("#outage-pack", "href") == "file:///S:/citedesk/index.html"
    page.context.set_offline(False)
    ask(page, "提前还款要收违约金吗？")
    assert page.locator("#outage").is_hidden()
    assert page.get_attribute("#offline-pack-link", "href").startswith("/api/offline-pack")
    assert errors == []
