"""Metrics on cases computed by hand."""

from __future__ import annotations

import math

import pytest

from evals.metrics import (
    KeyPointMatcher,
    abstention_scores,
    citation_precision,
    coverage,
    has_number,
    item_correct,
    match_text,
    percentile,
    retrieval_scores,
    sentences,
    source_matches,
    string_match,
)
from evals.qaset import ExpectedSource
from kb.types import Chunk, Citation, Hit


def hit(title: str, section: str, cid: str = "c") -> Hit:
    return Hit(chunk=Chunk(chunk_id=cid, doc_id="d", text="t", section=section, meta={"title": title}), score=0.5)


RATE = ExpectedSource(title="随心贷产品说明", section="利率与费用")
FEES = ExpectedSource(title="随心贷产品说明", section="提前还款")


def test_source_match_normalises_title_and_section():
    assert source_matches(hit("隨心貸產品說明", "第二章 > 利率與費用"), RATE)  # Traditional
    assert not source_matches(hit("随心贷产品说明", "还款方式"), RATE)
    assert not source_matches(hit("另一份说明", "利率与费用"), RATE)
    assert source_matches(hit("x", "y", cid="c_9"), ExpectedSource(chunk_id="c_9"))
    assert source_matches(hit("随心贷产品说明", "任何章节"), ExpectedSource(title="随心贷产品说明"))


def test_retrieval_scores_by_hand():
    ranked = [hit("a", "b"), hit("随心贷产品说明", "利率与费用"), hit("随心贷产品说明", "利率与费用 续"),
              hit("c", "d"), hit("随心贷产品说明", "提前还款")]
    s = retrieval_scores(ranked, [RATE, FEES])
    assert s["hit@1"] == 0.0 and s["hit@3"] == 1.0 and s["hit@5"] == 1.0
    assert s["mrr"] == 0.5
    assert s["recall@3"] == 0.5 and s["recall@5"] == 1.0
    # gains at ranks 2 and 5 (rank 3 re-finds RATE: no gain); ideal: ranks 1 and 2
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    assert s["ndcg@5"] == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert s["ndcg@3"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert retrieval_scores([], [RATE])["mrr"] == 0.0


def test_match_text_normalises_width_script_spaces_and_percent():
    assert match_text("年化 ７.２％") == "年化7.2%"
    assert match_text("利率為百分之十八") == "利率为18%"
    assert match_text("百分之七点二") == "7.2%"
    assert match_text("额度1,000元[2]") == "额度1000元"
    assert string_match("18%", "最高年化利率百分之十八。")
    assert string_match("提前還款", "提前 还款免费")


def test_numbers_must_appear_exactly():
    assert has_number("18", "年化18%")
    assert not has_number("18", "年化180天")
    assert not has_number("1.8", "费率1.85%")
    assert not has_number("7", "7.2%")


def test_sentences_split_on_chinese_punctuation_and_drop_markers():
    assert sentences("第一句[1]。第二句！第三句") == ["第一句。", "第二句！", "第三句"]


def test_key_points_string_then_semantic_with_number_rule():
    m = KeyPointMatcher()
    answer = "您好，逾期会产生罚息，罚息按合同利率的1.5倍计收[1]。提前还款不收取任何手续费[2]。"
    how = m.match(["1.5倍", "提前还款免手续费", "罚息为利率的2倍", "可以申请延期还款"], answer)
    assert how["1.5倍"] == "string"
    assert how["提前还款免手续费"] == "semantic"
    assert how["罚息为利率的2倍"] == ""  # close in meaning, wrong number
    assert how["可以申请延期还款"] == ""
    assert coverage(how) == 0.5
    assert coverage({}) is None


def test_item_correct_rules():
    assert item_correct(True, False, 1.0, False)
    assert not item_correct(True, False, 0.5, True)
    assert not item_correct(True, True, 1.0, True)  # abstained on an answerable item
    assert item_correct(True, False, None, True)  # no key points: an expected source must be cited
    assert not item_correct(True, False, None, False)
    assert item_correct(False, True, None, False)
    assert not item_correct(False, False, None, False)


def test_citation_precision():
    cites = [Citation(1, "c1", "d", "随心贷产品说明", "利率与费用", "s", "q"),
             Citation(2, "c2", "d", "其他", "x", "s", "q"),
             Citation(3, "c3", "d", "随心贷产品说明", "提前还款", "s", "q")]
    assert citation_precision(cites, [RATE, FEES]) == pytest.approx(2 / 3)
    assert citation_precision([], [RATE]) is None


def test_abstention_scores():
    # (answerable, abstained): 2 abstentions, 1 right; 3 unanswerable, 1 caught
    pairs = [(True, True), (False, True), (False, False), (False, False), (True, False)]
    assert abstention_scores(pairs) == {"abstention_precision": 0.5, "abstention_recall": pytest.approx(1 / 3)}
    assert abstention_scores([(True, False)]) == {"abstention_precision": None, "abstention_recall": None}


def test_percentiles():
    assert percentile([10, 20, 30, 40], 50) == 25.0
    assert percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)
    assert percentile([], 50) is None
