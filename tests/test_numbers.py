import pytest

from kb.numbers import asks_for_number, extract_numbers, missing_numbers, parse_chinese


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
