import pytest

from kb.answer.composer import ExtractiveComposer
from kb.answer.verify import check_support, finalize
from kb.bundles import load_bundles
from kb.index.embedders import make_embedder
from kb.index.similarity import SentenceSimilarity
from kb.text.lexicon import load_lexicon
from kb.text.quotable import answer_part, language
from kb.types import Chunk, Hit


def hit(n, text, score=0.8, **meta):
    return Hit(Chunk(f"c{n}", f"d{n}", text, section=f"s{n}", meta={"title": f"T{n}", **meta}), score)


LOAN = hit(1, "第六百七十条 借款的利息不得预先在本金中扣除。利息预先在本金中扣除的，应当按照实际借款数额返还借款并计算利息。", 0.9)
LATE = hit(2, "第六百七十六条 借款人未按照约定的期限返还借款的，应当按照约定或者国家有关规定支付逾期利息。", 0.6)
PRODUCT = hit(3, "## 额度与期限\n随心贷授信额度为1,000元至200,000元。期限可选3、6、12、24、36个月。申请需年满22周岁。", 0.7)
FAQ = hit(4, "问：提前还款要手续费吗？\n答：借款满3期后提前还款免手续费。未满3期的按提前归还本金的1%收取手续费。", 0.8,
          record="faq", keys=["提前还款要手续费吗？"])
CASE = hit(5, "客户问题：客户称催收人员多次给其同事打电话。\n处理方式：核实催收记录后向客户致歉，并更换催收人员。\n结果：客户满意",
           0.6, record="case")
PROC = hit(6, "3.客戶投訴處理:建立客戶投訴快速響應機制,接到投訴後,客服人員應立即安撫客戶情緒,詳細記錄投訴內容,及時轉交給相關責任部門處理。", 0.5)


@pytest.fixture(scope="module")
def composer():
    return ExtractiveComposer(SentenceSimilarity(make_embedder("e5")), load_lexicon(load_bundles(None)))


def reply(composer, question, hits, procedure=None):
    draft = composer.compose(question, hits, procedure=procedure)
    result = check_support(draft.pieces, hits, composer.sim)
    assert result.dropped == []  # an extractive reply is supported by construction
    return finalize(result.kept, hits)


def test_polite_chinese_reply_of_verbatim_source_sentences(composer):
    text, cites = reply(composer, "利息可以从本金里先扣掉吗？", [LOAN, LATE])
    assert text.startswith("您好，借款的利息不得预先在本金中扣除[1]。")
    assert text.endswith("如还有其他问题，欢迎随时联系我们。")
    assert "逾期利息" not in text
    assert cites[0].chunk_id == "c1" and "借款的利息不得预先在本金中扣除。" in cites[0].quote


def test_number_questions_prefer_sentences_with_the_numbers(composer):
    text, cites = reply(composer, "随心贷最多能借多少？", [PRODUCT, LOAN])
    assert "200,000元[1]" in text and cites[0].chunk_id == "c3"
    assert "## " not in text


def test_faq_hit_answers_with_its_answer(composer):
    text, cites = reply(composer, "提前还款收不收手续费", [FAQ, LOAN])
    assert "借款满3期后提前还款免手续费[1]。" in text
    assert "未满3期的按提前归还本金的1%收取手续费[1]。" in text
    assert "问：" not in text and "答：" not in text


def test_case_hit_is_presented_as_a_past_case(composer):
    text, _ = reply(composer, "催收给我同事打电话怎么办", [CASE])
    assert "类似的历史案例处理方式为：核实催收记录后向客户致歉，并更换催收人员[1]。" in text


def test_complaint_reply_acknowledges_feelings_and_cites_the_procedure(composer):
    text, cites = reply(composer, "你们催收天天给我同事打电话，我要投诉！", [CASE, PROC], procedure=1)
    assert text.startswith("非常理解您的心情")
    assert "客服人员应立即安抚客户情绪" in text  # shown in Simplified for a Simplified question
    assert {c.chunk_id for c in cites} == {"c5", "c6"}
    assert "客戶" in next(c.quote for c in cites if c.chunk_id == "c6")  # the quote stays verbatim


def test_english_question_gets_an_english_frame(composer):
    en = hit(7, "Interest shall not be deducted from the principal in advance. Late repayment incurs overdue interest.")
    text, _ = reply(composer, "Can interest be deducted from the principal in advance?", [en])
    assert text.startswith("Hello. Interest shall not be deducted from the principal in advance [1].")
    assert text.endswith("If you have any other questions, please let us know.")


def test_language_and_answer_part():
    assert language("利息怎么算") == "zh" and language("How is interest charged?") == "en"
    assert answer_part(FAQ.chunk).startswith("借款满3期后")
    assert answer_part(CASE.chunk).strip() == "核实催收记录后向客户致歉，并更换催收人员。"
    assert answer_part(LOAN.chunk) == LOAN.chunk.text


def test_no_hits_gives_only_the_frame(composer):
    draft = composer.compose("今天天气怎么样", [])
    assert all(p.own for p in draft.pieces) and draft.best_similarity == 0.0


def test_complaint_reply_quotes_the_first_step_of_the_procedure(composer):
    steps = hit(8, "## 坐席处理步骤\n1. 先安抚情绪：对客户的感受表示理解，不打断、不争辩。\n2. 核实身份：核验客户身份后才能讨论账户信息。\n"
                   "3. 转交部门：按业务类型转交责任部门处理，利息费用转财务核算组。", 0.5)
    text, _ = reply(composer, "客户很生气要投诉，转交哪个部门？", [CASE, steps], procedure=1)
    lead = text.split("按照我们的投诉处理流程：", 1)[1]
    # the step the agent takes now, with its label, whatever the question's wording matches best
    assert lead.startswith("先安抚情绪：对客户的感受表示理解，不打断、不争辩[1]。")
    assert "1." not in text


def test_a_sentence_left_empty_by_masking_is_not_quoted(composer):
    channels = hit(9, "客户可通过客服热线400-000-5566投诉，公司在24小时内首次响应。投诉邮箱[邮箱]。", 0.7)
    text, _ = reply(composer, "投诉邮箱和热线是多少", [channels])
    assert "400-000-5566" in text and "[邮箱]" not in text


def test_the_first_hit_is_quoted_when_its_sentence_is_nearly_as_good(composer):
    # retrieval ranks the article first through its customers' phrasings (question keys); none of the
    # question's words are in its text, while a weaker hit shares "拒绝" and scores a hair higher
    choice = hit(7, "第九条 消费者享有自主选择商品或者服务的权利。", 0.25, keys=["借款时非让我买你们的保险，我不想买可以吗？"])
    bank = hit(8, "第四十一条 商业银行有权拒绝任何单位和个人强令要求其发放贷款或者提供担保。", 0.12)
    text, cites = reply(composer, "业务员非让我搭配买保险才给贷款，我能拒绝吗", [choice, bank])
    assert "商业银行有权拒绝" in text  # the best-matching sentence leads
    assert "消费者享有自主选择商品或者服务的权利[" in text and "c7" in {c.chunk_id for c in cites}


def test_a_weaker_hit_joins_when_its_sentence_answers_almost_as_well(composer):
    # statute articles' fused scores are far apart (0.9 vs 0.36 here); a sentence that matches the
    # question nearly as well as the best one still belongs in the reply
    late = hit(2, LATE.chunk.text, 0.36)
    text, cites = reply(composer, "逾期还款要付利息吗", [LOAN, late])
    assert "应当按照约定或者国家有关规定支付逾期利息[2]。" in text and [c.chunk_id for c in cites] == ["c1", "c2"]


def test_the_same_rule_in_two_sources_is_said_once_and_cited_to_both(composer):
    # an FAQ answer and the product section it summarises, word for word but for the product name
    faq = hit(7, "问：提前还款要手续费吗？\n答：随心贷借款满3期后提前还款免收手续费。", 0.9, record="faq")
    product = hit(8, "## 提前还款\n借款满3期后提前还款免收手续费。提前还款须在还款日前一天申请。", 0.85)
    text, cites = reply(composer, "提前还款要手续费吗？", [faq, product])
    assert text.count("免收手续费") == 1
    assert "借款满3期后提前还款免收手续费[1][2]。" in text
    assert {c.chunk_id for c in cites} == {"c7", "c8"}


def test_a_sentence_already_said_inside_a_longer_one_is_not_repeated(composer):
    # the FAQ adds a clause to the product section's sentence, so the two are not "the same" (the
    # shorter is under 80% of the longer); the reply still says the shorter one only once
    faq = hit(7, "问：车主贷利率多少？\n答：车主贷的年化利率为6.5%至15.4%，具体以借款合同为准；车辆评估免费，抵押登记费用由公司承担。", 0.9,
              record="faq")
    product = hit(8, "## 利率与费用\n车主贷的年化利率为6.5%至15.4%，具体以借款合同为准。", 0.88)
    text, _ = reply(composer, "车主贷的年化利率是多少？", [faq, product])
    assert text.count("具体以借款合同为准") == 1 and "车辆评估免费" in text


SIGNATURE = hit(10, "第三条 民事活动中的合同或者其他文件、单证等文书，当事人可以约定使用或者不使用电子签名、数据电文。\n\n"
                    "前款规定不适用下列文书：\n\n（一）涉及婚姻、收养、继承等人身关系的；\n\n"
                    "（二）涉及停止供水、供热、供气等公用事业服务的；\n\n（三）法律、行政法规规定的不适用电子文书的其他情形。", 0.6)


def test_a_list_item_is_quoted_after_the_sentence_that_introduces_its_list(composer):
    # "涉及婚姻…的" alone reads as if marriage documents could be signed electronically; the
    # article says the opposite in the line before
    text, _ = reply(composer, "离婚协议和继承这种涉及人身关系的文书，能用电子签名吗？", [SIGNATURE])
    lead = text.index("前款规定不适用下列文书[1]")
    assert lead < text.index("（一）涉及婚姻、收养、继承等人身关系的[1]")


def test_items_between_two_quoted_items_are_shown_and_keep_their_numbers(composer):
    items = [s.split("）", 1)[1] for s in SIGNATURE.chunk.text.split("\n\n")[2:]]
    cands = composer.candidates("涉及婚姻、收养、继承等人身关系的文书，以及法律规定不适用电子文书的其他情形", [SIGNATURE])
    # the first and the third item, in the order `select` hands them on (as they stand in the source)
    picked = sorted((c for c in cands if c.text in (items[0], items[2])), key=lambda c: c.position)
    shown = [c.text for c in composer._in_context(picked, [SIGNATURE])]
    assert shown == ["前款规定不适用下列文书：", "（一）" + items[0], "（二）" + items[1], "（三）" + items[2]]


def test_a_list_cut_short_ends_with_an_ellipsis_and_its_lead_is_the_whole_introduction(composer):
    # the colon ends the second sentence of the paragraph; the list is named in the first
    penalties = hit(11, "第三十八条 征信机构违反本条例规定，有下列行为之一的，由国务院征信业监督管理部门责令限期改正，"
                        "对单位处5万元以上50万元以下的罚款。给信息主体造成损失的，依法承担民事责任：\n\n"
                        "（一）窃取或者以其他方式非法获取信息；\n\n（二）采集禁止采集的个人信息或者未经同意采集个人信息；\n\n"
                        "（三）违法提供或者出售信息；\n\n（四）因过失泄露信息。", 0.6)
    text, _ = reply(composer, "征信机构没经过我同意就采集我的个人信息，会怎么处罚？", [penalties])
    assert "有下列行为之一的" in text and "给信息主体造成损失的" in text
    assert "（二）采集禁止采集的个人信息或者未经同意采集个人信息[1]……" in text
    assert "（四）因过失泄露信息" not in text


def test_a_complaint_quotes_the_complaint_step_of_a_section_that_covers_more(composer):
    # the seed regulation's section on customer service: reception first, complaints third
    section = hit(12, "1.客户咨询接待:客服人员应在客户咨询的第一时间做出响应,使用礼貌、专业的语言问候客户。"
                      "2.业务办理协助:协助客户办理信贷业务申请、资料提交、进度查询等事项。"
                      "3.客户投诉处理:建立客户投诉快速响应机制,接到投诉后,客服人员应立即安抚客户情绪,详细记录投诉内容。", 0.5)
    text, _ = reply(composer, "你们的人打电话态度太差了，我要投诉！", [CASE, section], procedure=1)
    step = text.split("按照我们的投诉处理流程：", 1)[1]
    assert step.startswith("客户投诉处理：建立客户投诉快速响应机制") and "问候客户" not in text  # sent in full width


def test_a_list_introduction_is_not_merged_into_the_same_words_of_another_source(composer):
    # both articles end a paragraph with the same sentence; in the second it introduces a list,
    # and said once (cited to both, at the first article's place) it would leave the list headless
    users = hit(13, "第四十一条 信息使用者未经个人信息主体同意向第三方提供个人信息的，对单位处2万元以上20万元以下的罚款。"
                    "给信息主体造成损失的，依法承担民事责任。", 0.6)
    providers = hit(14, "第四十条 向金融信用信息基础数据库提供或者查询信息的机构有下列行为之一的，对单位处5万元以上50万元以下的罚款。"
                        "给信息主体造成损失的，依法承担民事责任：\n\n（一）违法提供或者出售信息；\n\n（二）因过失泄露信息。", 0.55)
    text, _ = reply(composer, "征信信息被违法出售，机构要承担什么责任？", [users, providers])
    named = text.index("有下列行为之一的")
    intro = text.index("给信息主体造成损失的，依法承担民事责任[", named)  # said again, after the list's name
    assert intro < text.index("（一）违法提供或者出售信息")


def faq_hit(n, question, answer, score):
    return Hit(Chunk(f"c{n}", f"d{n}", f"问：{question}\n答：{answer}", section=question,
                     meta={"title": "常见问题", "record": "faq", "keys": [question]}), score)


def test_an_faq_answer_is_read_with_its_question(composer):
    # every candidate but the answer repeats the product name; the answer's own question has it
    raise_faq = faq_hit(15, "随心贷怎么申请提额？", "按时还款满6期的客户可在App内申请提额，审核结果在3个工作日内通过短信告知。", 0.72)
    limit_faq = faq_hit(16, "随心贷最多能借多少钱？", "随心贷的授信额度为1,000元至200,000元，以审批结果为准，单笔借款最低500元。", 0.61)
    fees = hit(17, "## 利率与费用\n随心贷的年化利率（单利）为7.2%–18%。随心贷不收取账户管理费、服务费或砍头息。", 0.4)
    text, cites = reply(composer, "随心贷怎么提额", [raise_faq, limit_faq, fees])
    assert text.startswith("您好，按时还款满6期的客户可在App内申请提额")
    assert cites[0].chunk_id == "c15"


def test_the_abstention_features_are_the_sentences_own(composer):
    # the features the abstention model was fitted on do not count the FAQ's question: an answer
    # that shares no word with the customer's question still reads as sharing none
    faq = faq_hit(15, "随心贷怎么申请提额？", "按时还款满6期的客户可在App内申请。", 0.72)
    draft = composer.compose("随心贷怎么提额", [faq])
    cands = composer.candidates("随心贷怎么提额", [faq])
    assert cands[0].lexical > 0 and draft.best_lexical == 0.0 == cands[0].plain


def test_a_source_in_the_statutes_words_for_the_customers_lay_words_can_join(composer):
    # the customer says 担保人, the statute 保证: no word in common, but the lexicon's legal terms
    # for 担保人 (kb/text/query_terms.yaml) are the article's words, so its sentence joins the reply
    joint = hit(7, "第六百八十八条 当事人在保证合同中约定保证人和债务人对债务承担连带责任的,为连带责任保证。", 0.9)
    manner = hit(8, "第六百八十六条 保证的方式包括一般保证和连带责任保证。"
                    "当事人在保证合同中对保证方式没有约定或者约定不明确的,按照一般保证承担保证责任。", 0.6)
    question = "我帮朋友做担保人，文件里只写了同意担保，哪种担保没讲。他欠的钱没还上，你们能直接找我吗？"
    cands = composer.candidates(question, [joint, manner])
    second = next(c for c in cands if c.hit_index == 1)
    assert second.plain == 0.0 and second.shares_word
    text, cites = reply(composer, question, [joint, manner])
    assert [c.chunk_id for c in cites] == ["c7", "c8"] and "[2]" in text


def test_a_supporting_quote_comes_from_another_source_before_more_of_the_first():
    # the first source's next sentence scores higher, but when that source is the wrong article a
    # second sentence of it repeats the mistake: the reply's supporting quotes are other sources'
    # best sentences first, a further sentence of the first source only while there is room
    from kb.answer.composer import SUPPORT_CHARS, Candidate, _brief

    first = hit(1, "甲" * 10, 0.9)
    others = [hit(n, "乙" * 10, 0.5) for n in (2, 3)]
    hits = [first, *others]
    said = [
        (Candidate(0, 0, "第一句" + "甲" * 60 + "。", score=0.90), [1]),
        (Candidate(0, 1, "第二句" + "甲" * (SUPPORT_CHARS - 20) + "。", score=0.88), [1]),
        (Candidate(1, 0, "另一条" + "乙" * 40 + "。", score=0.80), [2]),
        (Candidate(2, 0, "第三条" + "丙" * 40 + "。", score=0.70), [3]),
    ]
    kept = [c.text[:3] for c, _ in _brief(said, hits)]
    assert kept == ["第一句", "另一条", "第三条"]  # both other sources, in their order; the long second sentence left out
    # a long quote of a source not yet quoted still joins on its own budget
    said[2] = (Candidate(1, 0, "另一条" + "乙" * (SUPPORT_CHARS - 10) + "。", score=0.80), [2])
    assert [c.text[:3] for c, _ in _brief(said, hits)] == ["第一句", "另一条", "第三条"]
