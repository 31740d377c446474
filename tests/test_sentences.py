import pytest

from kb.text.sentences import (
    full_width_punctuation,
    is_chinese,
    markers_in,
    split_sentences,
    strip_markers,
    with_markers,
)


def test_chinese_sentences_keep_their_markers():
    text = "您好，借款的利息不得预先在本金中扣除[1]。逾期利率以年化为准[2][3]！还有问题吗？"
    assert split_sentences(text) == [
        "您好，借款的利息不得预先在本金中扣除[1]。",
        "逾期利率以年化为准[2][3]！",
        "还有问题吗？",
    ]


def test_marker_after_the_full_stop_stays_with_its_sentence():
    assert split_sentences("利息不得预先扣除。[1] 借款应当按期返还。[2]") == [
        "利息不得预先扣除。[1]",
        "借款应当按期返还。[2]",
    ]


def test_decimal_points_do_not_split():
    assert split_sentences("年化利率为7.2%[1]。额度1.5万元[2]。") == ["年化利率为7.2%[1]。", "额度1.5万元[2]。"]
    assert split_sentences("The annual rate is 7.2% [1]. The fee is 1.5 dollars.") == [
        "The annual rate is 7.2% [1].",
        "The fee is 1.5 dollars.",
    ]


def test_english_abbreviations_and_closing_quotes():
    assert split_sentences("See e.g. the contract [1]. Mr. Smith agreed.[2] Done") == [
        "See e.g. the contract [1].",
        "Mr. Smith agreed.[2]",
        "Done",
    ]
    assert split_sentences("他说：“可以。”然后走了。") == ["他说：“可以。”", "然后走了。"]


def test_newlines_end_sentences_and_clauses_are_optional():
    assert split_sentences("第一行\n\n第二行") == ["第一行", "第二行"]
    text = "借款人应当按期还款；逾期的，支付逾期利息。"
    assert split_sentences(text) == [text]
    assert split_sentences(text, clauses=True) == ["借款人应当按期还款；", "逾期的，支付逾期利息。"]


def test_markers_alone_on_a_line_join_the_previous_sentence():
    assert split_sentences("利息不得预先扣除。\n[1]") == ["利息不得预先扣除。[1]"]


def test_marker_helpers():
    assert markers_in("a [2] b [1][2]") == [2, 1]
    assert strip_markers("利息不得预先扣除[1][2]。") == "利息不得预先扣除。"
    assert is_chinese("年化利率是多少？")
    assert not is_chinese("What is the annual rate?")


@pytest.mark.parametrize("sentence, marked", [
    ("他说：「借款的利息不得预先在本金中扣除。」", "他说：「借款的利息不得预先在本金中扣除。」[1]"),
    ("合同写明“提前还款不收取违约金”。", "合同写明“提前还款不收取违约金”[1]。"),
    ("日利率为0.05%（以合同为准）。", "日利率为0.05%（以合同为准）[1]。"),
    ("提前还款不收取违约金。", "提前还款不收取违约金[1]。"),
    ("The penalty is 1.5 times the rate.", "The penalty is 1.5 times the rate [1]."),
])
def test_a_marker_never_lands_inside_a_closing_quote_or_bracket(sentence, marked):
    assert with_markers(sentence, [1]) == marked
    assert split_sentences(marked + " 下一句。") == [marked, "下一句。"]


@pytest.mark.parametrize("ascii_, full", [
    ("利息,以合同为准(年化).", "利息，以合同为准（年化）。"),
    ("请在App中申请:提前3天!", "请在App中申请：提前3天！"),
    ("不收取违约金[1].", "不收取违约金[1]。"),
    ("金额1,000元,年化利率7.2%.", "金额1,000元，年化利率7.2%。"),  # digits keep their separators
    ("随心贷(Suixindai)的利率?", "随心贷(Suixindai)的利率？"),  # Latin inside brackets: left as written
    ("见第3.2条", "见第3.2条"),
    ("请登录App.", "请登录App."),
    ("利率(年化18%),按日计息.", "利率（年化18%），按日计息。"),  # a bracket pair turns together
    ("年化利率(APR)为18%.", "年化利率(APR)为18%。"),
    ("年化利率7.2%, 按日计息.", "年化利率7.2%，按日计息。"),
])
def test_a_chinese_sentence_gets_full_width_punctuation(ascii_, full):
    assert full_width_punctuation(ascii_) == full
