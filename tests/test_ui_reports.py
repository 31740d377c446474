"""Reports a trainer can read: metric names in the UI language with what they measure, values as
percentages, milliseconds and counts (never "None" or "n=1.000"), a per-question table of a few
columns, the HTML report in Chinese, and the dashboard and index-health pages without raw keys."""

from __future__ import annotations

import re

import pytest
from _ui_support import signed_in, site  # noqa: F401 - the pages over a real knowledge base
from bs4 import BeautifulSoup
from test_report import first_run, second_run

from evals.harness import METRIC_KEYS
from evals.labels import METRICS, PER_QUESTION, metric_value
from evals.report import compare, html_report, write_report
from evals.report import run_report_dir as report_dir_of


@pytest.fixture(scope="module")
def run_id(site):  # noqa: F811
    _, _, records = site
    return records.save_eval_run(second_run(), "mini-set")


def visible(html: str) -> str:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "template"]):
        tag.decompose()
    return soup.get_text(" ")


def test_every_metric_has_a_name_and_an_explanation_in_both_languages():
    assert set(METRIC_KEYS) <= set(METRICS)
    for key, (kind, zh, en, zh_help, en_help) in METRICS.items():
        assert kind in ("rate", "score", "ms", "count") and zh and en and zh_help and en_help, key
    assert (metric_value("hit@5", 0.8533), metric_value("n", 119), metric_value("mrr", 0.9123)) == ("85.3%", "119", "0.91")
    assert metric_value("latency_p50_ms", 1234.5) == "1,234 毫秒" and metric_value("latency_p50_ms", 1234.5, "en") == "1,234 ms"
    assert metric_value("abstention_precision", None) == "–"


def test_the_eval_report_page_names_and_explains_each_metric(site, run_id):  # noqa: F811
    page = signed_in(site, "trainer1").get(f"/trainer/evals/{run_id}").text
    soup = BeautifulSoup(page, "html.parser")
    names = {a.get_text(): a["title"] for a in soup.select("#overall abbr")}
    assert names["命中率@5"] == "预期来源出现在检索结果前 5 条中的题目占比。"
    assert "准确率" in names and "要点覆盖率" in names and "hit@5" not in names
    rows = {tr["data-metric"]: [td.get_text(strip=True) for td in tr.find_all("td")] for tr in soup.select("#overall tr[data-metric]")}
    assert rows["n"][1] == "3" and rows["accuracy"][1] == "33.3%"
    assert rows["abstention_precision"][1] == "–"  # nothing was withheld: not measured, not "None"
    text = visible(page)
    assert "None" not in text and not re.search(r"\bn=", text) and "1.000" not in text


def test_the_per_question_table_has_a_few_readable_columns(site, run_id):  # noqa: F811
    page = signed_in(site, "trainer1").get(f"/trainer/evals/{run_id}").text
    soup = BeautifulSoup(page, "html.parser")
    heads = [th.get_text(strip=True) for th in soup.select("#per-question thead th")]
    assert heads == ["问题", "主题", "结果", "要点覆盖率", "命中率@5", "引用准确率", "耗时"]
    assert len(heads) == 3 + len(PER_QUESTION)
    first = soup.select("#per-question tbody tr")[0]
    cells = [td.get_text(" ", strip=True) for td in first.find_all("td")]
    assert "遗漏要点：18%" in cells[0] and cells[2].startswith("✗") and cells[3] == "50.0%" and cells[6] == "40 毫秒"


def test_in_english_the_same_page_speaks_english(site, run_id):  # noqa: F811
    page = signed_in(site, "trainer1").get(f"/trainer/evals/{run_id}?lang=en").text
    soup = BeautifulSoup(page, "html.parser")
    names = {a.get_text(): a["title"] for a in soup.select("#overall abbr")}
    assert names["hit@5"].startswith("Share of questions with an expected source among the first 5")
    assert "missed key points: 18%" in visible(page)


def test_the_html_report_is_written_in_chinese_too(tmp_path):
    before, now = first_run(), second_run()
    paths = write_report(now, tmp_path, compare(now, before), [before, now])
    zh = paths["html_zh-CN"].read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in zh and "评测报告：mini" in zh and "总体指标" in zh
    assert '<abbr title="预期来源出现在检索结果前 5 条中的题目占比。">命中率@5</abbr>' in zh
    assert "遗漏要点：18%" in zh and "新出错的题：q-1, q-2" in zh and "33.3%" in zh
    assert "▼ -66.7 个百分点" in zh  # accuracy fell from 100% to 33.3%
    text = visible(zh)
    assert "None" not in text and "missed key points" not in text and "Overall" not in text
    en = paths["html"].read_text(encoding="utf-8")
    assert '<html lang="en">' in en and "Overall" in en and "总体指标" not in en
    assert html_report(tmp_path, "zh-CN") == paths["html_zh-CN"] and html_report(tmp_path, "en") == paths["html"]


def test_the_report_page_links_the_html_report_in_the_ui_language(site, run_id):  # noqa: F811
    app, _, _ = site
    write_report(second_run(), report_dir_of(app.state.settings.data_dir, run_id), None, [second_run()])
    client = signed_in(site, "trainer1")
    link = BeautifulSoup(client.get(f"/trainer/evals/{run_id}").text, "html.parser").find("a", string="完整 HTML 报告")
    assert link["href"] == f"/api/evals/{run_id}/report?format=html&lang=zh-CN"


def test_the_dashboard_names_flags_and_topics_in_words(site, run_id):  # noqa: F811
    _, _, records = site
    for flags in (["account_lookup"], ["compliance:rate_annualised"], ["pii_masked", "complaint"]):
        records.save_interaction({"question": "问题", "answer": "答复", "flags": flags, "abstained": False})
    page = signed_in(site, "trainer1").get("/trainer/dashboard").text
    soup = BeautifulSoup(page, "html.parser")
    topics = [th.get_text(strip=True) for th in soup.select("#rates tbody th")]
    assert "标记：账户查询（需到业务系统）" in topics and "标记：合规提示：利率未以年化展示" in topics
    assert "标记：客户投诉" in topics and "标记：含个人信息（已遮盖）" in topics
    assert not any(re.search(r"[a-z]_[a-z]", t) for t in topics)
    heads = [th.get_text(strip=True) for th in soup.select("#latest-topics thead th")]
    assert heads == ["主题", "题数", "准确率", "命中率@5", "要点覆盖率"]
    text = visible(page)
    assert "None" not in text and not re.search(r"\bn=", text) and "account_lookup" not in text


def test_the_index_health_page_labels_every_figure(site):  # noqa: F811
    _, kb, _ = site
    page = signed_in(site, "admin1").get("/admin/health").text
    soup = BeautifulSoup(page, "html.parser")
    labels = {tr["data-key"]: tr.find("td").get_text(strip=True) for tr in soup.select("#stats tr[data-key]")}
    assert set(labels) == set(kb.stats())
    assert labels["lexical_snapshot_id"] == "关键词索引版本" and labels["chunks"] == "段落数"
    assert not any(re.fullmatch(r"[a-z_]+", v) for v in labels.values())
    text = visible(page)
    assert "lexical_snapshot_id" not in text and "None" not in text
    assert str(kb.stats()["snapshot_id"]) in text  # the figures themselves are still there
