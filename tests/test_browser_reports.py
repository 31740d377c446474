"""A trainer reads an evaluation report in a real browser (Debian's Chromium driven by Playwright)
against a real `uvicorn` server: the per-question table fits a desktop window, metric names carry
their explanation, and the full HTML report opens in the UI's language."""

from __future__ import annotations

import pytest
from _browser_support import CHROMIUM, Watched, browser, sign_in  # noqa: F401 - browser is a fixture
from test_report import first_run, second_run

from evals.report import compare, run_report_dir, write_report
from kb.records import Records
from kb.settings import Settings
from ui.demo_site import build_site, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    pytest.importorskip("playwright.sync_api")
    data_dir = tmp_path_factory.mktemp("browser-reports") / "data"
    build_site(data_dir)
    records = Records.open(Settings(data_dir=data_dir))
    before, now = first_run(), second_run()
    for row in now["per_question"]:  # questions as long as customers write them
        row["question"] = row["question"] + "，我上个月借的钱现在想提前还清，需要准备什么材料、多久能办好？"
    records.save_eval_run(before, "mini-set")
    run_id = records.save_eval_run(now, "mini-set")
    records.close()
    write_report(now, run_report_dir(data_dir, run_id), compare(now, before), [before, now])
    with serve(data_dir) as base:
        yield base, run_id


@pytest.fixture
def trainer(site, browser):
    base, _ = site
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    w = Watched(context)
    sign_in(w.page, "trainer1")
    yield w.page
    context.close()
    assert not w.errors, f"JavaScript errors: {w.errors}"


def test_the_per_question_table_fits_a_desktop_window(site, trainer):
    _, run_id = site
    trainer.goto(f"/trainer/evals/{run_id}")
    wrap = trainer.locator("#per-question").locator("xpath=..")
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth + 1")  # no sideways scrolling
    question = trainer.locator("#per-question tbody td.q").first
    assert question.bounding_box()["width"] >= 250  # a question reads as a line or two, not a column of characters
    assert question.bounding_box()["height"] <= 120
    name = trainer.locator("#overall abbr", has_text="命中率@5")
    assert name.get_attribute("title") == "预期来源出现在检索结果前 5 条中的题目占比。"
    assert "None" not in trainer.inner_text("body")


def test_the_full_html_report_opens_in_the_ui_language(site, trainer):
    _, run_id = site
    trainer.goto(f"/trainer/evals/{run_id}")
    trainer.click("text=完整 HTML 报告")
    trainer.wait_for_selector("h1")
    assert trainer.get_attribute("html", "lang") == "zh-CN"
    assert trainer.inner_text("h1") == "评测报告：mini"
    body = trainer.inner_text("body")
    assert "命中率@5" in body and "遗漏要点：18%" in body and "None" not in body
    trainer.goto(f"/trainer/evals/{run_id}?lang=en")
    trainer.click("text=Full HTML report")
    trainer.wait_for_selector("h1")
    assert trainer.get_attribute("html", "lang") == "en" and "Overall" in trainer.inner_text("body")
