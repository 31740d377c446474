"""`citedesk calibrate --qaset`: the reply confidence recalibrated on a company's graded set, and
`citedesk question-keys` on the command line."""

from __future__ import annotations

import json
import math
import random

import pytest
import yaml
from click.testing import CliRunner

from api.cli import main
from evals.calibrate import Outcome, platt, recalibrate
from kb.answer.evidence import load_models, models_for
from kb.knowledge import KnowledgeBase
from kb.settings import Settings
from kb.types import Chunk, Document, make_chunk_id, make_doc_id

ARTICLES = {
    "提前还款": "借款人可以随时申请提前还款，提前还款不收取违约金，利息按实际使用天数计算。",
    "逾期罚息": "借款人逾期还款的，按日万分之五计收罚息，逾期超过三十天的可能上报征信。",
    "还款日": "每月还款日为借款发放日的对应日，遇节假日不顺延，请提前存入足额资金。",
    "额度调整": "客户按时还款满六个月后，可以在应用内申请提高授信额度，审批结果以短信通知。",
    "合同下载": "借款合同可以在应用的我的借款页面下载，电子合同与纸质合同具有同等效力。",
    "注销账户": "结清全部借款后，客户可以通过在线客服申请注销账户，注销后不可恢复。",
}
QUESTIONS = [("提前还款要违约金吗", "提前还款"), ("晚还几天罚多少钱", "逾期罚息"), ("每个月哪天还钱", "还款日"),
             ("怎么把额度提上去", "额度调整"), ("合同在哪里下载", "合同下载"), ("我不用了能销户吗", "注销账户"),
             ("提前把钱全还了有没有手续费", "提前还款"), ("逾期会不会上征信", "逾期罚息"), ("还款日碰上国庆怎么办", "还款日"),
             ("电子合同有效吗", "合同下载"), ("额度能提高吗", "额度调整"), ("销户以后还能恢复吗", "注销账户")]
UNANSWERABLE = ["今天黄金价格多少", "你们公司股票代码是多少", "附近哪家火锅好吃", "明天会下雨吗", "彩票怎么兑奖"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "data"
    with KnowledgeBase.open(Settings(data_dir=path), writer=True) as kb:
        for title, text in ARTICLES.items():
            did = make_doc_id(title)
            kb.upsert_document(Document(did, title, "procedure", f"{title}.md", text, {}),
                               [Chunk(make_chunk_id(did, text, "第一条"), did, text, section="第一条")])
    return path


def _set(tmp_path, n: int | None = None):
    items = [{"id": f"q{i}", "question": q, "expected_sources": [{"title": t}]} for i, (q, t) in enumerate(QUESTIONS)]
    items += [{"id": f"u{i}", "question": q, "expected_sources": [], "answerable": False} for i, q in enumerate(UNANSWERABLE)]
    path = tmp_path / "graded.yaml"
    path.write_text(yaml.safe_dump({"name": "graded", "items": items[:n] if n else items}, allow_unicode=True), "utf-8")
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_platt_scaling_recovers_an_over_confident_score():
    rng = random.Random(0)
    scores, right = [], []
    for _ in range(3000):
        z = rng.uniform(-4, 4)
        scores.append(1 / (1 + math.exp(-z)))
        right.append(rng.random() < 1 / (1 + math.exp(-(0.5 * z - 0.5))))  # truly: half as sure, lower
    a, b = platt(scores, right)
    assert abs(b - 0.5) < 0.1 and abs(a + 0.5) < 0.2


def test_recalibrated_models_keep_the_order_of_replies_and_follow_the_outcomes():
    models = load_models()
    rng = random.Random(1)
    outcomes = []
    for _ in range(200):
        f = {name: rng.uniform(-1, 1) for name in models.features}
        outcomes.append(Outcome(f, True, rng.random() < 0.3))  # right far less often than the shipped model says
    new, fitted = recalibrate(models, outcomes, "test")
    before = [models.confidence(o.features) for o in outcomes]
    after = [new.confidence(o.features) for o in outcomes]
    order = sorted(range(200), key=before.__getitem__)
    assert [after[i] for i in order] == sorted(after)
    assert abs(sum(after) / 200 - 0.3) < abs(sum(before) / 200 - 0.3)
    assert fitted["answerable"].startswith("kept")  # no unanswerable items: the abstention model stays


def test_calibrate_shows_the_reliability_before_and_after_and_writes_the_models(tmp_path, data_dir):
    graded = _set(tmp_path)
    dry = run("calibrate", "--qaset", graded, "--dry-run", "--json", "--data-dir", data_dir)
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output)
    # replies a rule withholds (a question outside the company's business) are not the model's to calibrate
    assert 10 <= report["items"] <= len(QUESTIONS) + len(UNANSWERABLE)
    assert report["before"]["reliability"] and report["after"]["reliability"]
    assert "written" not in report and not (data_dir / "evidence_models.json").exists()

    done = run("calibrate", "--qaset", graded, "--data-dir", data_dir)
    assert done.exit_code == 0, done.output
    assert "before" in done.output and "after" in done.output
    local = models_for(data_dir)
    assert local.fitted["by"].startswith("citedesk calibrate") and local.fitted["items"] == report["items"]
    from kb.answer.pipeline import Answerer

    with KnowledgeBase.open(Settings(data_dir=data_dir)) as kb:
        assert Answerer(kb, kb.settings).models == local


def test_calibrate_refuses_a_set_too_small_to_say_anything_and_writes_nothing(tmp_path, data_dir):
    (data_dir / "evidence_models.json").unlink(missing_ok=True)
    res = run("calibrate", "--qaset", _set(tmp_path, 3), "--data-dir", data_dir)
    assert res.exit_code == 2 and "at least" in res.output
    assert not (data_dir / "evidence_models.json").exists()


def test_question_keys_from_a_graded_set_listed_with_their_origin_and_removed(tmp_path, data_dir):
    added = run("question-keys", "from-qaset", _set(tmp_path), "--json", "--data-dir", data_dir)
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["keys_added"] == len(QUESTIONS)
    listed = json.loads(run("question-keys", "list", "--origin", "qaset:graded", "--json", "--data-dir", data_dir).output)
    assert {k["origin"] for k in listed} == {f"qaset:graded#q{i}" for i in range(len(QUESTIONS))}
    one = run("question-keys", "remove", "qaset:graded#q0", "--json", "--data-dir", data_dir)
    assert json.loads(one.output)["removed"] == 1
    rest = run("question-keys", "remove", "qaset:graded", "--json", "--data-dir", data_dir)
    assert json.loads(rest.output)["removed"] == len(QUESTIONS) - 1
