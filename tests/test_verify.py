import re

import pytest

from kb.answer.verify import SUPPORT_THRESHOLD, Piece, check_support, finalize
from kb.index.embedders import make_embedder
from kb.index.similarity import SentenceSimilarity
from kb.text.sentences import markers_in
from kb.types import Chunk, Hit


def hit(n, text, title="民法典", section="", version=None, score=0.9):
    meta = {"title": title, "kind": "regulation", "source": f"src{n}.md"}
    if version:
        meta["version"] = version
    return Hit(Chunk(f"c{n}", f"d{n}", text, section=section, meta=meta), score)


HITS = [
    hit(1, "第六百七十条 借款的利息不得预先在本金中扣除。利息预先在本金中扣除的，应当按照实际借款数额返还借款并计算利息。",
        section="第六百七十条"),
    hit(2, "第六百七十六条 借款人未按照约定的期限返还借款的，应当按照约定或者国家有关规定支付逾期利息。"),
    hit(3, "逾期超过三十日的，我司将按照规定报送征信。年化利率不超过百分之二十四。", title="还款规则", version="v2"),
]


@pytest.fixture(scope="module")
def sim():
    return SentenceSimilarity(make_embedder("e5"))


def verify(pieces, sim, hits=HITS):
    result = check_support(pieces, hits, sim)
    text, cites = finalize(result.kept, hits)
    return result, text, cites


def test_supported_paraphrase_is_kept_and_unrelated_sentence_dropped(sim):
    result, text, cites = verify(
        [Piece("贷款机构不能提前从本金里把利息扣掉[1]。"), Piece("消费者享有自主选择商品或者服务的权利[2]。")], sim
    )
    assert text == "贷款机构不能提前从本金里把利息扣掉[1]。"
    assert result.dropped == ["消费者享有自主选择商品或者服务的权利。"]
    assert [c.chunk_id for c in cites] == ["c1"]
    assert cites[0].quote == "第六百七十条 借款的利息不得预先在本金中扣除。"
    assert cites[0].section == "第六百七十条"


def test_invented_numbers_are_dropped_and_equivalent_numerals_accepted(sim):
    result, text, _ = verify(
        [Piece("逾期超过30天的，我司将按照规定报送征信[3]。"), Piece("逾期超过15天的，我司将按照规定报送征信[3]。"),
         Piece("年化利率不超过36%[3]。")],
        sim,
    )
    assert text == "逾期超过30天的，我司将按照规定报送征信[1]。"
    assert result.dropped == ["逾期超过15天的，我司将按照规定报送征信。", "年化利率不超过36%。"]


def test_markers_naming_no_source_are_removed(sim):
    result, text, cites = verify(
        [Piece("借款的利息不得预先在本金中扣除[1][7]。"), Piece("借款人逾期还款要支付逾期利息[9]。"),
         Piece("借款人逾期还款要支付逾期利息。")],
        sim,
    )
    assert text == "借款的利息不得预先在本金中扣除[1]。"
    assert result.dropped == ["借款人逾期还款要支付逾期利息。", "借款人逾期还款要支付逾期利息。"]
    assert len(cites) == 1


def test_citations_renumbered_in_order_of_first_use_and_all_referenced(sim):
    _, text, cites = verify(
        [Piece("您好，", own=True), Piece("逾期超过三十日的，我司将按照规定报送征信[3]。"),
         Piece("借款的利息不得预先在本金中扣除[1]。"), Piece("年化利率不超过百分之二十四[3]。"),
         Piece("如还有其他问题，欢迎随时联系我们。", own=True)],
        sim,
    )
    assert text == (
        "您好，逾期超过三十日的，我司将按照规定报送征信[1]。借款的利息不得预先在本金中扣除[2]。"
        "年化利率不超过百分之二十四[1]。如还有其他问题，欢迎随时联系我们。"
    )
    assert [(c.n, c.chunk_id) for c in cites] == [(1, "c3"), (2, "c1")]
    assert cites[0].version == "v2" and cites[0].title == "还款规则"
    assert "逾期超过三十日" in cites[0].quote and "百分之二十四" in cites[0].quote
    used = {n for s in re.findall(r"\[\d+\]", text) for n in markers_in(s)}
    assert used == {c.n for c in cites}


def test_own_sentences_are_exempt_but_unmarked_llm_greetings_are_not(sim):
    result, text, _ = verify([Piece("您好，很高兴为您服务。"), Piece("借款的利息不得预先在本金中扣除[1]。")], sim)
    assert text == "借款的利息不得预先在本金中扣除[1]。"
    assert result.dropped == ["您好，很高兴为您服务。"]


def test_english_markers_go_before_the_full_stop(sim):
    hits = [hit(1, "Interest shall not be deducted from the principal in advance.")]
    _, text, cites = verify([Piece("Interest may not be taken out of the principal beforehand [1].")], sim, hits)
    assert text == "Interest may not be taken out of the principal beforehand [1]."
    assert cites[0].quote == "Interest shall not be deducted from the principal in advance."


PARAPHRASES = [
    ("借款的利息不得预先在本金中扣除。", "贷款机构不能提前从本金里把利息扣掉。"),
    ("利息预先在本金中扣除的，应当按照实际借款数额返还借款并计算利息。", "如果利息被提前从本金中扣掉，就按实际拿到的借款金额还款和计息。"),
    ("借款人应当按照约定的期限返还借款。", "借款人要在合同约定的期限内还款。"),
    ("借款人未按照约定的期限返还借款的，应当按照约定或者国家有关规定支付逾期利息。", "借款人逾期还款的，需要按约定或国家规定支付逾期利息。"),
    ("借款合同对支付利息没有约定的，视为没有利息。", "如果借款合同里没约定利息，就当作不收利息。"),
    ("自然人之间的借款合同，自贷款人提供借款时成立。", "个人之间的借款合同在出借人把钱借出时成立。"),
    ("借款人可以在还款期限届满前向贷款人申请展期；贷款人同意的，可以展期。", "借款人在到期前可以申请延期还款，出借人同意就可以展期。"),
    ("借款人提前返还借款的，除当事人另有约定外，应当按照实际借款的期间计算利息。", "提前还款的话，除非另有约定，利息按实际借款天数计算。"),
    ("禁止高利放贷，借款的利率不得违反国家有关规定。", "法律禁止放高利贷，借款利率必须符合国家规定。"),
    ("征信机构不得采集个人的宗教信仰、基因、指纹、血型、疾病和病史信息。", "征信机构不能收集个人的宗教信仰、基因、指纹、血型和病史等信息。"),
    ("个人信息主体有权每年两次免费获取本人的信用报告。", "个人每年可以免费查询两次自己的信用报告。"),
    ("消费者享有自主选择商品或者服务的权利。", "消费者有权自己选择商品和服务。"),
    ("经营者不得以格式条款、通知、声明、店堂告示等方式，作出排除或者限制消费者权利的不公平、不合理的规定。",
     "商家不能用格式条款或告示等方式不合理地限制消费者的权利。"),
    ("保证人与债权人应当约定保证期间。", "保证人和债权人需要约定保证的期间。"),
    ("当事人在保证合同中对保证方式没有约定或者约定不明确的，按照一般保证承担保证责任。", "保证合同没有写清楚保证方式的，按一般保证来承担责任。"),
    ("持卡人对信用卡被盗刷的损失，发卡行未尽安全保障义务的，应当承担相应责任。",
     "信用卡被盗刷时，如果发卡银行没有尽到安全保障义务，银行要承担相应责任。"),
    ("客户咨询时，客服人员应在第一时间做出响应，使用礼貌、专业的语言问候客户。", "客服应当第一时间回应客户咨询，并礼貌专业地问候。"),
    ("接到投诉后，客服人员应立即安抚客户情绪，详细记录投诉内容，及时转交给相关责任部门处理。",
     "收到投诉时，客服要马上安抚客户情绪，记录投诉内容并及时转给责任部门。"),
    ("The interest shall not be deducted from the principal in advance.", "Interest may not be taken out of the principal beforehand."),
    ("A borrower who repays early pays interest only for the actual period of the loan.",
     "If you repay early, interest is charged only for the days you actually borrowed."),
]
UNRELATED = [
    ("借款的利息不得预先在本金中扣除。", "征信机构不得采集个人的宗教信仰、基因、指纹、血型信息。"),
    ("借款人应当按照约定的期限返还借款。", "消费者享有自主选择商品或者服务的权利。"),
    ("借款合同对支付利息没有约定的，视为没有利息。", "保证人与债权人应当约定保证期间。"),
    ("个人信息主体有权每年两次免费获取本人的信用报告。", "借款人可以在还款期限届满前向贷款人申请展期。"),
    ("消费者享有自主选择商品或者服务的权利。", "电子签名需要第三方认证的，由依法设立的电子认证服务提供者提供认证服务。"),
    ("保证人与债权人应当约定保证期间。", "商业银行应当按照中国人民银行规定的存款利率的上下限，确定存款利率。"),
    ("禁止高利放贷，借款的利率不得违反国家有关规定。", "客户生日时通过短信向客户发送祝福信息。"),
    ("接到投诉后，客服人员应立即安抚客户情绪。", "借款合同应当采用书面形式。"),
    ("持卡人对信用卡被盗刷的损失，发卡行应当承担相应责任。", "自然人之间的借款合同，自贷款人提供借款时成立。"),
    ("借款人提前返还借款的，应当按照实际借款的期间计算利息。", "征信机构应当采取合理措施，保障其提供信息的准确性。"),
    ("经营者不得以格式条款作出排除或者限制消费者权利的规定。", "融资担保公司的注册资本不得低于人民币2000万元。"),
    ("自然人之间的借款合同，自贷款人提供借款时成立。", "您好，今天天气晴朗，适合出门。"),
    ("借款的利息不得预先在本金中扣除。", "客服人员每年参加内部培训的时长不少于规定小时。"),
    ("The interest shall not be deducted from the principal in advance.", "The customer service team sends birthday greetings by SMS."),
    ("A borrower who repays early pays interest only for the actual period of the loan.",
     "Consumers have the right to choose goods and services freely."),
]


@pytest.mark.slow
def test_support_threshold_separates_paraphrases_from_unrelated(sim):
    para = [sim.best(p, [s])[0] for s, p in PARAPHRASES]
    unrelated = [sim.best(u, [s])[0] for s, u in UNRELATED]
    assert min(para) >= SUPPORT_THRESHOLD, sorted(para)[:3]
    assert max(unrelated) < SUPPORT_THRESHOLD, sorted(unrelated)[-3:]


def test_an_english_frame_around_chinese_quotes_keeps_its_spaces():
    from kb.answer.verify import Checked

    quote = ("先安抚情绪：先对客户的感受表示理解，例如给您带来不便非常抱歉，我理解您现在很着急，不打断、不争辩，"
             "再详细记录投诉的时间、渠道、涉及的产品和客户的诉求，并在一个工作日内转交相关责任部门处理。")
    source = [hit(1, quote)]
    kept = [Checked("We fully understand how you feel.", True), Checked("Under our complaint-handling procedure:", True),
            Checked(quote, False, cited=[0], quotes={0: quote}),
            Checked("If you have any other questions, please let us know.", True)]
    text, _ = finalize(kept, source)  # mostly Chinese text, English connecting words
    assert text.startswith("We fully understand how you feel. Under our complaint-handling procedure: 先安抚情绪")
    assert text.endswith("处理[1]。If you have any other questions, please let us know.")
    chinese, _ = finalize([Checked("您好，", True), kept[2], Checked("如还有其他问题，欢迎随时联系我们。", True)], source)
    assert chinese == f"您好，{quote[:-1]}[1]。如还有其他问题，欢迎随时联系我们。"
