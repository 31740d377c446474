import pytest

from kb.text.numbers import (
    asked_figure,
    asks_for_number,
    extract_numbers,
    missing_numbers,
    parse_chinese,
    phone_owner,
    states_figure,
    states_phone_of,
)


def values(text):
    return [(n.value, n.percent) for n in extract_numbers(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("三十天", [(30, False)]),
        ("30天", [(30, False)]),
        ("百分之二十四", [(24, True)]),
        ("24%", [(24, True)]),
        ("24％", [(24, True)]),
        ("1.5万", [(15000, False)]),
        ("一万五千元", [(15000, False)]),
        ("15,000元", [(15000, False)]),
        ("两个月", [(2, False)]),
        ("千分之五", [(0.5, True)]),
        ("第六百七十条", [(670, False)]),
        ("三亿五千万", [(350_000_000, False)]),
        ("十分钟", [(10, False)]),
        ("二〇二一年", [(2021, False)]),
        ("年化利率7.2%[1]", [(7.2, True)]),
    ],
)
def test_quantities_are_read_as_values(text, expected):
    assert values(text) == expected


@pytest.mark.parametrize("text", ["一般情况下十分重要", "千万不要", "统一规定", "一次性还清", "万一逾期", "唯一的办法"])
def test_words_written_with_numeral_characters_are_not_numbers(text):
    assert values(text) == []


def test_parse_chinese():
    assert parse_chinese("十") == 10
    assert parse_chinese("二十四") == 24
    assert parse_chinese("三百六十五") == 365
    assert parse_chinese("一万零五百") == 10500
    assert parse_chinese("abc") is None


def test_missing_numbers_compares_across_scripts():
    source = "逾期超过三十日的，年利率不得超过百分之二十四，额度一万五千元。"
    assert missing_numbers("逾期超过30天[1]，年利率不超过24%，额度1.5万元。", source) == []
    missing = missing_numbers("逾期超过31天的，年利率不超过36%。", source)
    assert [(n.value, n.percent) for n in missing] == [(31, False), (36, True)]
    # a percentage is not the same fact as a plain count
    assert [n.value for n in missing_numbers("收取24元", source)] == [24]


def test_citation_markers_are_not_numbers():
    assert missing_numbers("借款利息不得预先扣除[3]。", "借款的利息不得预先在本金中扣除。") == []


def test_asks_for_number():
    assert asks_for_number("逾期多少天会上征信？")
    assert asks_for_number("How much is the late fee?")
    assert not asks_for_number("利息可以预先扣除吗？")


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("逾期几天会被报送征信？", "days"),
        ("征信异议法定多少天处理", "days"),
        ("逾期幾天會上征信", "days"),  # Traditional
        ("我几天之内要还", "days"),
        ("How many days do I have to repay?", "days"),
        ("违约金一般收多少比例", "percent"),
        ("罚息是百分之几？", "percent"),
        ("What percent is the penalty?", "percent"),
        ("人民银行征信中心的客服电话是多少？", "phone"),
        ("你们投诉热线号码给我一下", "phone"),
        ("What is the phone number for customer service?", "phone"),
        ("If my ID number and phone number leaked, must you tell me?", None),  # mentions, does not ask
        ("客服电话几点上班？", None),
        ("几天前借的钱，现在想提前还可以吗？", None),  # 几天前 tells when, it does not ask
        ("我借了多少钱你们查得到吗", None),  # 多少钱 is left out on purpose
        ("利息可以预先扣除吗？", None),
    ],
)
def test_asked_figure(question, kind):
    assert asked_figure(question) == kind


def test_states_figure():
    assert states_figure("应当自收到异议之日起二十日内处理", "days")
    assert states_figure("在15个工作日内答复", "days")
    assert states_figure("within 30 days", "days")
    assert not states_figure("应当及时处理", "days")
    assert not states_figure("每日计算", "days")  # a rate basis, not a number of days
    assert states_figure("年利率24%", "percent")
    assert states_figure("不得超过合同成立时一年期贷款市场报价利率四倍，即百分之十四点八", "percent")
    assert not states_figure("年利率24%", "days")
    assert not states_figure("违约金过分高于造成的损失的，可以请求适当减少", "percent")
    assert states_figure("可通过客服热线400-000-5566投诉", "phone")
    assert states_figure("金融消费者投诉热线为12378。", "phone")
    assert not states_figure("借款12000元，分12期", "phone")  # an amount, not a number to call


@pytest.mark.parametrize(
    ("question", "owner"),
    [
        ("人民银行征信中心的客服电话是多少", "人民银行征信中心"),
        ("消费者协会的电话号码", "消费者协会"),
        ("银保监会的投诉热线是多少", "银保监会"),
        ("你们的客服电话是多少", None),  # the company's own number
        ("你们机构的电话多少", None),
        ("澄原的客服电话是多少", None),  # a name that is no institution: the company's, as far as we know
        ("投诉电话多少", None),  # no owner named
        ("人民银行征信中心在哪里", None),  # not a phone question
    ],
)
def test_phone_owner(question, owner):
    assert phone_owner(question) == owner


def test_states_phone_of_needs_the_owner_named_beside_the_number():
    # the company's hotline in a sentence that goes on to mention the credit reference centre
    company = "客户可通过客服热线400-000-5566、App“在线客服—征信异议”提交异议，也可以直接向征信中心或其分支机构提出异议。"
    assert states_figure(company, "phone") and not states_phone_of(company, "人民银行征信中心")
    assert states_phone_of("征信中心客服电话400-810-8866。", "人民银行征信中心")
    # named in the clause before the number
    assert states_phone_of("客户也有权向金融监管部门投诉，金融消费者投诉热线为12378。", "金融监管部门")
    assert not states_phone_of("客户也有权向金融监管部门投诉。", "金融监管部门")  # named, but no number
