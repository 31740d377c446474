"""Numbers in text, Arabic or Chinese, as comparable values.

"三十天" = "30天", "百分之二十四" = "24%", "1.5万" = "15000", "一万五千元" = "15,000元".
Verification uses this to require that every number an answer states also appears in
the source it cites. Citation markers "[n]" are not numbers.

Hand-written: the PyPI Chinese-numeral packages (cn2an, chinese2digits) convert whole
strings but do not find numbers inside running text, tell 一般/十分/万一 (words) from
一次/十天 (quantities), or handle percent forms and 万/亿 multipliers on Arabic digits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from kb.text.norm import normalize, standard_chinese
from kb.text.pii import MOBILE_MASK

_DIGITS = {
    "零": 0, "〇": 0, "○": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "貳": 2, "两": 2, "兩": 2,
    "三": 3, "叁": 3, "參": 3, "四": 4, "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "陸": 6,
    "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9,
}
_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_BIG_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000}
_CN_CHARS = "".join(_DIGITS) + "".join(_SMALL_UNITS) + "".join(_BIG_UNITS)

# What may follow a Chinese numeral for it to count as a quantity (not 一般, 十分, 万一).
_UNITS = (
    "个工作日|工作日|自然日|小时|分钟|周岁|年度|个月|天|日|月|年|周|次|倍|元|块|笔|期|张|岁|条|款|项|章|节|"
    "人|份|家|名|分之|成|位|种|级|类|层|秒|里|公里|万|亿|%|％"
)
_CN_NUMBER = re.compile(
    rf"(?P<pre>第|百分之|千分之|万分之)?(?P<num>[{_CN_CHARS}]+)(?P<post>{_UNITS})?"
)
# Words made of numeral characters that are not quantities.
_NOT_NUMBERS = (
    "一般", "一定", "一律", "一致", "一切", "一并", "一起", "一样", "一旦", "一些", "一直", "一经", "一方",
    "一次性", "统一", "唯一", "之一", "万一", "十分", "一一", "千万", "一下", "一向", "一同", "一面",
)
_AR_NUMBER = re.compile(
    r"(?P<pre>百分之|千分之)?(?P<num>\d+(?:,\d{3})*(?:\.\d+)?)\s*(?P<mult>[万萬亿億千])?\s*(?P<pct>%|％|‰|percent\b)?",
    re.IGNORECASE,
)
_MARKER = re.compile(r"\[\d{1,3}\]")


@dataclass(frozen=True)
class Number:
    value: float
    percent: bool = False  # a rate: 24% and 百分之二十四 are percent; 0.5‰ is percent 0.05
    text: str = ""

    def same(self, other: Number) -> bool:
        return self.percent == other.percent and abs(self.value - other.value) <= 1e-9 * max(1.0, abs(self.value))


def parse_chinese(s: str) -> int | None:
    """Value of a Chinese numeral string: 三十 → 30, 一万五千 → 15000, 二〇二一 → 2021."""
    if not s:
        return None
    if not any(c in _SMALL_UNITS or c in _BIG_UNITS for c in s):
        # digit by digit (years, codes): 二〇二一
        if all(c in _DIGITS for c in s):
            return int("".join(str(_DIGITS[c]) for c in s))
        return None
    total = 0  # finished 亿/万 sections
    section = 0  # current section below 万
    digit: int | None = None
    for c in s:
        if c in _DIGITS:
            digit = _DIGITS[c]
        elif c in _SMALL_UNITS:
            section += (1 if digit is None else digit) * _SMALL_UNITS[c]
            digit = None
        elif c in _BIG_UNITS:
            section += digit or 0
            unit = _BIG_UNITS[c]
            if section == 0 and total == 0:
                section = 1
            if unit > 10_000 or total == 0:
                total = (total + section) * unit
            else:  # 万 after 亿: 三亿五千万
                total += section * unit
            section, digit = 0, None
        else:
            return None
    return total + section + (digit or 0)


def extract_numbers(text: str) -> list[Number]:
    """All quantities in the text, in order. Citation markers are ignored."""
    text = unicodedata.normalize("NFKC", _MARKER.sub(" ", text))
    found: list[tuple[int, Number]] = []
    for m in _AR_NUMBER.finditer(text):
        raw = m.group("num")
        value = float(raw.replace(",", ""))
        mult = m.group("mult")
        if mult:
            value *= {"万": 1e4, "萬": 1e4, "亿": 1e8, "億": 1e8, "千": 1e3}[mult]
        pct = m.group("pct")
        pre = m.group("pre")
        percent = bool(pct) or bool(pre)
        if pct == "‰" or pre == "千分之":
            value /= 10
        found.append((m.start(), Number(value, percent, m.group(0).strip())))
    arabic_spans = [(m.start(), m.end()) for m in _AR_NUMBER.finditer(text)]
    for m in _CN_NUMBER.finditer(text):
        num, pre, post = m.group("num"), m.group("pre"), m.group("post")
        if any(a <= m.start("num") < b for a, b in arabic_spans):
            continue  # the 万 of "1.5万" was read with its digits
        if not (num[0] in _DIGITS or num[0] in "十拾"):
            continue  # 万元, 百姓: a unit character alone is not a number
        start, end = m.span("num")
        if not pre and any(
            text.startswith(w, i) and i + len(w) >= max(end, m.end())
            for w in _NOT_NUMBERS
            for i in range(max(0, start - len(w) + 1), start + 1)
        ):
            continue  # a word written with numeral characters: 一般, 十分, 万一
        positional = len(num) >= 2 and any(c in _SMALL_UNITS or c in _BIG_UNITS for c in num)
        if not pre and not post and not positional:
            continue  # a bare numeral character inside a word
        value = parse_chinese(num)
        if value is None:
            continue
        percent = pre in ("百分之", "千分之", "万分之")
        v = float(value)
        if pre == "千分之":
            v /= 10
        elif pre == "万分之":
            v /= 100
        if post in ("万", "亿") and not percent:
            v *= 1e4 if post == "万" else 1e8
        found.append((m.start(), Number(v, percent, m.group(0))))
    found.sort(key=lambda t: t[0])
    return [n for _, n in found]


def missing_numbers(sentence: str, source: str) -> list[Number]:
    """Numbers stated in the sentence that the source does not contain (by value)."""
    have = extract_numbers(source)
    return [n for n in extract_numbers(sentence) if not any(n.same(h) for h in have)]


def asks_for_number(question: str) -> bool:
    """Does the question ask for a quantity (多少, 几, 多久, how much/many/long)?"""
    q = question.lower()
    return bool(
        re.search(r"多少|几[天日个月年次期笔倍]|几|多久|多长|多高|多大|利率|费率|比例|期限|上限|how (much|many|long|soon)|rate|limit", q)
    )


# A question that asks for a figure of a given kind, and the ways a source states one.
# asks_for_number above is broad on purpose (it only makes the composer prefer sentences
# with numbers); these are narrow, because a reply is withheld when the asked-for figure is
# stated nowhere in what it quotes. 多少钱 is left out: in a customer's account it mostly
# describes (借了多少钱) rather than asks.
_ASKED_FIGURE = {
    "days": re.compile(r"几[天日](?=会|能|就|内|以内|后|之内|[?？]|$)|多少[天日]|how many days"),
    "percent": re.compile(r"多少比例|百分之几|几个点|多少个点|what percent"),
    "phone": re.compile(
        r"(电话|热线|手机号?|客服号)(号码)?[^,，。？?！!]{0,3}?(是多少|多少|是几号|号码是)|(电话|热线)号码"
        r"|what(?:'s| is) [^.?!]{0,30}(phone|hotline|telephone) number|(phone|hotline|telephone) number (for|of) "
        r"|number (for|of) [^.?!]{0,30}(hotline|customer service)|which number (do|should|can) i call"
    ),
}
_STATED_FIGURE = {
    "days": re.compile(r"(?:\d+|[零〇一二两三四五六七八九十百]+)\s*个?(?:工作)?[日天]|\d+\s*days?", re.IGNORECASE),
    "percent": re.compile(r"\d+(?:\.\d+)?\s*[%％]|百分之|percent", re.IGNORECASE),
    # 400-000-5566, 12378, 010 12345678; a mobile number masked at ingest still shows one was there
    "phone": re.compile(
        r"(?<![\d.])(?:\d{3,4}[-\s]?\d{3,4}[-\s]?\d{3,4}|\d{5,})(?![\d.]|\s*(?:元|块|万|%|％|年|月|日))|" + re.escape(MOBILE_MASK)
    ),
}


def asked_figure(question: str) -> str | None:
    """The kind of figure the question asks for ("days", "percent", "phone"), or None.
    "逾期几天会上征信？" → "days"; "违约金一般收多少比例？" → "percent"; "几天前借的钱" → None."""
    q = normalize(standard_chinese(question)).strip()
    for kind, pattern in _ASKED_FIGURE.items():
        if pattern.search(q):
            return kind
    return None


def states_figure(text: str, kind: str) -> bool:
    """Does the text state a figure of this kind ("二十日", "15个工作日", "24%", "百分之三十",
    "400-000-5566")?"""
    return bool(_STATED_FIGURE[kind].search(normalize(text)))


# Whose phone number a question asks for, when it is an institution's and not the company's:
# "消费者协会的投诉电话是多少" → "消费者协会". The company's own documents give the
# company's numbers; an institution's is stated only where a clause names it beside the number.
_PHONE_OWNER = re.compile(
    r"(?P<owner>[\u4e00-\u9fff]{2,12}?)的?(?:客服|投诉|咨询|服务|官方)?(?:电话|热线)"
)
_INSTITUTION = re.compile(r"中心|银行|法院|协会|消协|监|委员会|[^结]局|公安|派出所|仲裁|征信|机构")
_SELF = re.compile(r"^(?:你们|您们|贵|我们|咱们|本)")  # "你们机构的电话": the company's own
_OWNER_WINDOW = 4  # characters of the owner's name a clause must repeat ("征信中心")
_CLAUSES = re.compile(r"[,，;；。.!！?？]")


def phone_owner(question: str) -> str | None:
    """The institution whose phone number a phone question asks for, or None (the company's own
    number, or no owner named): "消费者协会的投诉电话是多少" → "消费者协会";
    "你们的客服电话是多少" → None."""
    if asked_figure(question) != "phone":
        return None
    q = normalize(standard_chinese(question))
    m = _PHONE_OWNER.search(q)
    if not m or not _INSTITUTION.search(m.group("owner")) or _SELF.search(m.group("owner")):
        return None
    return m.group("owner")


def states_phone_of(text: str, owner: str) -> bool:
    """Does a clause of the text give a phone number and name the owner, in that clause or the
    one before it (four characters of its name in a row, or all of a shorter one)?
    "客户也有权向金融监管部门投诉,金融消费者投诉热线为12378" gives the regulator's number;
    "客户可通过客服热线400-000-5566…,也可以直接向征信中心…提出异议" gives the company's, not the
    credit reference centre's."""
    n = min(_OWNER_WINDOW, len(owner))
    windows = {owner[i : i + n] for i in range(len(owner) - n + 1)}
    clauses = _CLAUSES.split(normalize(text))
    return any(
        states_figure(clause, "phone") and any(w in before + clause for w in windows)
        for before, clause in zip(["", *clauses[:-1]], clauses, strict=True)
    )
