"""Each reason to withhold a reply, as a rule on its own (kb.answer.abstention); the pipeline's use of
them on a real knowledge base is in tests/test_answering.py."""

from __future__ import annotations

from kb.answer import abstention
from kb.answer.guards import load_guards
from kb.answer.verify import Checked
from kb.bundles import shipped
from kb.text.question import Question
from kb.types import Chunk, Hit

GUARDS = load_guards((shipped("credit_cs"),))


def _hit(kind: str, bm25: float = 3.0, text: str = "借款的利息不得预先在本金中扣除。") -> Hit:
    return Hit(Chunk("c", "d", text, meta={"kind": kind}), 0.8, {"bm25": bm25})


def test_every_rule_the_pipeline_names_is_documented_in_order():
    doc = abstention.__doc__
    positions = [doc.index(f"  {name}") for name in abstention.REASONS]
    assert positions == sorted(positions)


def test_no_shared_word_needs_both_no_keyword_match_and_no_shared_term():
    assert abstention.no_shared_word([_hit("faq", bm25=0.0)], best_lexical=0.0)
    assert not abstention.no_shared_word([_hit("faq", bm25=0.0)], best_lexical=0.2)  # a sentence shares a word
    assert not abstention.no_shared_word([_hit("faq", bm25=1.5)], best_lexical=0.0)  # the hit shares a word
    assert not abstention.no_shared_word([], best_lexical=0.0)  # nothing found is another reason


def test_the_companys_practice_is_withheld_only_when_statutes_alone_match():
    q = Question.parse("你们现在的年化利率是多少")
    assert abstention.no_company_source(q, GUARDS, [_hit("regulation"), _hit("regulation")])
    assert not abstention.no_company_source(q, GUARDS, [_hit("regulation"), _hit("product")])
    assert not abstention.no_company_source(Question.parse("借款利息能先扣吗"), GUARDS, [_hit("regulation")])


def test_out_of_scope_unless_the_question_speaks_of_credit():
    assert abstention.out_of_scope(Question.parse("离婚后孩子抚养费怎么算"), GUARDS)
    assert not abstention.out_of_scope(Question.parse("离婚后前夫的贷款要我还吗"), GUARDS)


def test_a_topic_the_companys_documents_speak_of_is_in_its_scope():
    from kb.types import Chunk, Hit

    q = Question.parse("公司不签劳动合同要赔双倍工资吗")
    credit = Hit(Chunk("c1", "d1", "借款人应当按照约定的期限返还借款。"), 0.4)
    staff = Hit(Chunk("c2", "d2", "用人单位自用工之日起超过一个月不满一年未与劳动者订立书面劳动合同的，应当向劳动者每月支付二倍的工资。"), 0.6)
    assert abstention.out_of_scope(q, GUARDS, [credit])  # only credit passages: outside the scope
    assert not abstention.out_of_scope(q, GUARDS, [staff, credit])  # a loaded document on the topic


def test_nothing_left_when_only_our_own_words_remain():
    assert abstention.nothing_left([Checked("您好，", True), Checked("如还有其他问题，欢迎随时联系我们。", True)])
    assert not abstention.nothing_left([Checked("您好，", True), Checked("借款期限为12个月[1]。", False, [0])])


def test_a_figure_asked_for_must_be_stated_by_a_quoted_statute():
    statute = [_hit("regulation")]
    days = Question.parse("逾期几天会上征信")
    without = [Checked("信息提供者应当事先告知信息主体本人[1]。", False, [0])]
    with_days = [Checked("异议应当自收到之日起20日内处理[1]。", False, [0])]
    assert abstention.figure_not_in_sources(days, without, statute)
    assert not abstention.figure_not_in_sources(days, with_days, statute)
    # a company's own document may answer with a condition instead of a figure
    assert not abstention.figure_not_in_sources(days, without, [_hit("faq")])
    assert not abstention.figure_not_in_sources(Question.parse("逾期会上征信吗"), without, statute)  # no figure asked


def test_an_institutions_phone_number_needs_a_clause_naming_it():
    q = Question.parse("消费者协会的投诉电话是多少")
    company = [Checked("客户可拨打客服热线400-000-5566投诉[1]。", False, [0])]
    theirs = [Checked("消费者协会的投诉电话为12315[1]。", False, [0])]
    assert abstention.figure_not_in_sources(q, company, [_hit("faq")])
    assert not abstention.figure_not_in_sources(q, theirs, [_hit("faq")])
