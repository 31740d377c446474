"""The question's forms, computed once (kb.text.question)."""

from __future__ import annotations

from kb.bundles import shipped
from kb.text.lexicon import load_lexicon
from kb.text.question import Question

LEXICON = load_lexicon([shipped("regulations_zh")])


def test_a_personal_number_is_masked_and_its_clause_is_not_searched():
    q = Question.parse("我的手机是13812345678，提前还款要手续费吗", LEXICON)
    assert "13812345678" not in q.masked and q.pii_masked
    assert "手机" not in q.searched and "提前还款要手续费吗" in q.searched
    assert "13812345678" not in repr(q.tokens)


def test_traditional_and_written_cantonese_are_searched_as_standard_simplified_chinese():
    q = Question.parse("我借咗錢未還，會唔會上徵信？", LEXICON)
    assert q.language == "zh" and not q.written_simplified  # the reply keeps the customer's script
    assert "咗" not in q.standard and "征信" in q.simplified
    assert Question.parse("逾期会上征信吗", LEXICON).written_simplified


def test_the_lexicon_is_read_once_for_the_search_and_the_composer():
    q = Question.parse("帮朋友当担保人要负什么责任", LEXICON)
    assert "保证" in q.expansion or "保证人" in q.expansion  # extra keyword-search tokens
    assert any("保证人" in alts or "保证" in alts for alts in q.alternatives.values())
    assert set(q.alternatives) == set(q.tokens)


def test_english_questions_are_marked_english():
    q = Question.parse("Can I repay my loan early?", LEXICON)
    assert q.language == "en" and {"提前", "还款"} <= set(q.expansion)
    assert "提前" in q.alternatives["early"]
