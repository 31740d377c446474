"""The sidebar's reply in a real browser (Debian's Chromium driven by Playwright) against a real
`uvicorn` server whose language-model endpoint cannot be reached (a closed port on 127.0.0.1):
the reply still comes, extractive, with a plain notice and the offline pack; a quote of several
sentences is highlighted part by part in its passage; markers and punctuation as a Chinese reply
is sent."""

from __future__ import annotations

import re

import pytest
from _browser_support import CHROMIUM, Watched, ask, browser, sign_in  # noqa: F401 - browser is a fixture

from ui.demo_site import build_site, free_port, serve

pytestmark = pytest.mark.browser
PACK_URL = "file:///S:/citedesk/index.html"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    pytest.importorskip("playwright.sync_api")
    data_dir = tmp_path_factory.mktemp("browser-replies") / "data"
    build_site(data_dir)
    closed = free_port()  # nothing listens there: every request to the model is refused
    env = {"CITEDESK_LLM_BASE_URL": f"http://127.0.0.1:{closed}/v1", "CITEDESK_LLM_MODEL": "stand-in",
           "CITEDESK_LLM_TIMEOUT": "5", "CITEDESK_OFFLINE_PACK_URL": PACK_URL}
    with serve(data_dir, env=env) as base:
        yield base


@pytest.fixture
def agent(site, browser):
    context = browser.new_context(base_url=site, viewport={"width": 1100, "height": 900}, accept_downloads=True)
    w = Watched(context)
    sign_in(w.page, "agent1")
    yield w.page
    context.close()
    assert not w.errors, f"JavaScript errors: {w.errors}"


def answer_json(page, question: str) -> dict:
    with page.expect_response(lambda r: r.url.endswith("/api/ask")) as resp:
        ask(page, question)
    return resp.value.json()


def test_an_unreachable_model_endpoint_is_said_plainly_with_the_offline_pack(agent, tmp_path):
    data = answer_json(agent, "可以提前还款吗？要收违约金吗？")
    assert "llm_unavailable" in data["flags"] and data["mode"] == "extractive"
    assert "违约金" in agent.inner_text("#reply")  # the extractive reply still comes
    notice = agent.locator("#llm-banner")
    assert "语言模型暂不可用" in notice.inner_text() and "离线资料包" in notice.inner_text()
    assert notice.locator("a.pack-open").get_attribute("href") == PACK_URL
    assert agent.locator("#outage").is_hidden()  # CiteDesk itself answers: not the outage notice
    with agent.expect_download() as dl:
        notice.locator("a.pack-download").click()
    saved = tmp_path / "pack.html"
    dl.value.save_as(saved)
    pack = saved.read_text(encoding="utf-8")
    assert "<html" in pack and "提前还款" in pack  # the pack holds the documents in force


def test_the_notice_goes_with_the_reply_that_had_no_model(agent):
    answer_json(agent, "可以提前还款吗？要收违约金吗？")
    assert agent.locator("#llm-banner").is_visible()
    data = answer_json(agent, "帮我查一下我的还款日是哪天")  # withheld before any model is asked
    assert "llm_unavailable" not in data["flags"] and data["abstain_reason"] == "account_lookup"
    assert agent.locator("#llm-banner").count() == 0


def test_a_quote_of_several_sentences_is_highlighted_part_by_part(agent):
    data = answer_json(agent, "提前还款怎么申请，利息怎么算？")
    joined = next(c for c in data["citations"] if " … " in c["quote"])
    parts = joined["quote"].split(" … ")
    agent.locator(f"#reply .chip[data-n='{joined['n']}']").first.click()
    card = agent.locator(f"#source-{joined['n']}")
    card.locator(".passage[data-loaded]:not([hidden])").wait_for()
    marks = card.locator(".passage mark").all_inner_texts()
    assert marks == parts and len(parts) >= 2
    passage = card.locator(".passage").inner_text()
    assert all(p in passage for p in parts)


def test_a_chinese_reply_keeps_full_width_punctuation_and_markers_outside_quotes(agent):
    data = answer_json(agent, "提前还款怎么申请，利息怎么算？")
    text = data["answer"]
    assert re.search(r"\[\d+\]。", text)  # the marker before the full stop
    assert not re.search(r"[\u4e00-\u9fff][,;:?!]", text)  # ASCII punctuation after Chinese: none
    assert not re.search(r"\[\d+\][」”）]", text)
    shown = agent.inner_text("#reply")
    assert "，" in shown and "," not in shown


def test_an_account_question_with_an_id_number_is_sent_to_the_business_system(agent):
    number = "110105194912310021"  # an ID number with a wrong check digit
    data = answer_json(agent, f"我的身份证号是{number}，帮我查一下还款日")
    assert data["abstain_reason"] == "account_lookup" and data["question"] == "我的身份证号是[身份证号]，帮我查一下还款日"
    # nothing to send as it is: the banner and the answer tell the agent to check the business system
    assert "业务系统" in agent.inner_text("#abstain-banner")
    assert "业务系统" in agent.inner_text("#reply") + agent.inner_text("#guidance-box")
    assert "[身份证号]" in agent.inner_text("#history")
    kept = agent.evaluate("JSON.stringify(sessionStorage)") + agent.content()
    assert number not in kept  # nothing in the page or the browser's storage holds the number
