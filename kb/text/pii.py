"""Masking of personal numbers before anything is logged, stored or sent to a model.

Validation uses python-stdnum (PRC resident ID checksum and birth place, Luhn for bank cards) so
that an 18-digit loan contract number or an amount is not mistaken for an ID card. Mobile numbers
and e-mail addresses have no checksum; they are matched by shape.

A number the customer calls an identity number (身份证号 11010519491231002１, 证件号码：…, ID number
…) is masked whatever its check digit: the customer says what it is, and a mistyped ID is still
theirs. Without such a label a checksum failure means the number is something else (a contract).

Numbers are found in every form a customer or an input method writes them: the text is looked at
after Unicode NFKC (full-width １３７… and ＠ become 137… and @), with every decimal digit as its
ASCII digit and zero-width characters removed, and with digits split by spaces or dashes
(138 1234 5678, 1101-0519-4912-3100-2X). The masks replace the matching stretch of the original
text; everything else is returned exactly as it was given.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from stdnum import luhn
from stdnum.cn import ric

# between two digits: nothing, a space or two, or a dash with optional spaces around it
_SEP = r"(?:[ \t]?-[ \t]?|[ \t]{1,2})?"
# 18-digit IDs (an old 15-digit one is checked by its birth date and place, see _valid_id); an ID
# may be followed or preceded by letters (身份证号11010519491231002Xabc, ID110105…)
_ID_RE = re.compile(rf"(?<![0-9])(\d(?:{_SEP}\d){{16}}{_SEP}[0-9Xx]|\d(?:{_SEP}\d){{14}})(?![0-9])")
# a number the customer calls an identity number: the label, a few words of no digit or sentence
# break (是, 号码为：, number is), then a run of at least 6 digits (an X may end it)
_ID_LABEL = (r"(?:身份证|身份證|证件号|證件號|\b(?:id|identity|identification)[ -]?(?:card|number|no\b)"
             r"|\bmy id\b)")
_LABELLED_ID_RE = re.compile(
    rf"{_ID_LABEL}[^0-9。，,；;！!？?\n]{{0,12}}?(\d(?:{_SEP}\d){{5,}}(?:{_SEP}[Xx])?)(?![0-9])", re.IGNORECASE)
_CARD_RE = re.compile(rf"(?<![0-9])(\d(?:{_SEP}\d){{15,18}})(?![0-9])")
# a mobile, with or without +86 / 0086 / 86 in front
_MOBILE_RE = re.compile(rf"(?<![0-9])(?:(?:\+|00)?86{_SEP})?(1{_SEP}[3-9](?:{_SEP}\d){{9}})(?![0-9])")
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# characters that take no room: zero-width space/joiners, word joiner, BOM, soft hyphen and the
# other invisible format characters (Unicode category Cf)
_INVISIBLE = "Cf"
_INVISIBLE_RE = re.compile("[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]")  # every code point of category Cf (Unicode 14.0.0)
_OTHER_DIGIT_RE = re.compile(r"(?![0-9])\d")  # a decimal digit of another script (٣, ३, ３ …)

ID_MASK = "[身份证号]"
CARD_MASK = "[银行卡号]"
MOBILE_MASK = "[手机号]"
EMAIL_MASK = "[邮箱]"


@dataclass
class MaskResult:
    text: str
    found: dict[str, int]  # kind -> count

    @property
    def masked(self) -> bool:
        return bool(self.found)


def _digits(s: str) -> str:
    return re.sub(r"[ \t-]", "", s)


def _valid_id(number: str) -> bool:
    """An 18-digit resident ID with a valid checksum, birth date and birth place; or an old
    15-digit one (no check digit: 6 digits of place, yymmdd of birth in the 1900s, 3 of order)
    whose 18-digit form is valid."""
    number = number.upper()
    if len(number) == 15:
        if not number.isdigit():
            return False
        long_form = number[:6] + "19" + number[6:]
        number = long_form + ric.calc_check_digit(long_form + "0")
    return ric.is_valid(number)


def _normalised(text: str) -> tuple[str, list[int]]:
    """What the patterns look at — NFKC, decimal digits as ASCII, invisible characters removed —
    and for each of its characters the index of the original character it came from."""
    if (unicodedata.is_normalized("NFKC", text) and not _INVISIBLE_RE.search(text)
            and not _OTHER_DIGIT_RE.search(text)):
        return text, range(len(text))  # type: ignore[return-value]  # nothing to change: the common case
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == _INVISIBLE:
            continue
        form = unicodedata.normalize("NFKC", ch)
        if len(form) == 1 and form.isdecimal() and not form.isascii():
            form = str(unicodedata.decimal(form))
        out.append(form)
        where.extend([i] * len(form))
    return "".join(out), where


def public_contact_key(value: str) -> str:
    """How a published contact is compared: an e-mail address or "@domain" in lower case, a
    phone number as its digits (without a +86 prefix)."""
    value = value.strip().lower()
    if "@" in value:
        return value
    digits = re.sub(r"\D", "", value)
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def mask_pii(text: str, keep: frozenset[str] = frozenset()) -> MaskResult:
    """Mask personal numbers in `text`. `keep` holds the organisation's own published contacts
    (keys from `public_contact_key`: addresses, "@domain"s, phone numbers), which stay as they are."""
    found: dict[str, int] = {}
    view, where = _normalised(text)
    # every find is a (start, end, mask) over `view`; the first pattern to claim a stretch wins
    spans: list[tuple[int, int, str]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e, _ in spans)

    def claim(kind: str, mask: str, a: int, b: int) -> None:
        if free(a, b):
            spans.append((a, b, mask))
            found[kind] = found.get(kind, 0) + 1

    for m in _EMAIL_RE.finditer(view):
        address = m.group(0).lower()
        if not (address in keep or address[address.index("@") :] in keep):
            claim("email", EMAIL_MASK, m.start(), m.end())
    for m in _ID_RE.finditer(view):
        if _valid_id(_digits(m.group(1))):
            claim("id_card", ID_MASK, m.start(1), m.end(1))
    for m in _LABELLED_ID_RE.finditer(view):
        # "身份证和手机都换了，13812345678": a number that is a mobile or a card is masked as one below
        digits = _digits(m.group(1))
        if not (_MOBILE_RE.fullmatch(digits) or (16 <= len(digits) <= 19 and luhn.is_valid(digits))):
            claim("id_card", ID_MASK, m.start(1), m.end(1))
    for m in _CARD_RE.finditer(view):
        digits = _digits(m.group(1))
        if 16 <= len(digits) <= 19 and luhn.is_valid(digits):
            claim("bank_card", CARD_MASK, m.start(1), m.end(1))
    for m in _MOBILE_RE.finditer(view):
        if _digits(m.group(1)) not in keep:
            claim("mobile", MOBILE_MASK, m.start(), m.end())
    if not spans:
        return MaskResult(text=text, found=found)
    pieces: list[str] = []
    at = 0
    for a, b, mask in sorted(spans):
        start, end = where[a], where[b - 1] + 1
        pieces.append(text[at:start])
        pieces.append(mask)
        at = end
    pieces.append(text[at:])
    return MaskResult(text="".join(pieces), found=found)


def mask(text: str, keep: frozenset[str] = frozenset()) -> str:
    return mask_pii(text, keep).text


# any of the masks mask_pii writes (a sentence or clause that held a personal number)
MASKS_RE = re.compile("|".join(re.escape(m) for m in (ID_MASK, CARD_MASK, MOBILE_MASK, EMAIL_MASK)))
_CLAUSE_RE = re.compile(r"[^，,。；;！!？?\n]*[，,。；;！!？?\n]?")
# what is left of a clause that only gives a number (我的身份证是, 电话, my phone is) is at most this
# many Chinese characters and Latin words
_NUMBER_ONLY_UNITS = 8
_UNIT_RE = re.compile(r"[\u4e00-\u9fff]|[A-Za-z]+")


def without_personal_numbers(masked: str) -> str:
    """A masked question as the search reads it. A clause that only gives a personal number (我的
    身份证是[身份证号], 电话[手机号]) says nothing about what is asked, and its words (身份证, 电话)
    would pull in articles about identity documents; it is left out. Elsewhere the mask itself is
    removed. The masked question is what is logged, returned and sent to a model."""
    if not MASKS_RE.search(masked):
        return masked
    kept = []
    for clause in _CLAUSE_RE.findall(masked):
        if not MASKS_RE.search(clause):
            kept.append(clause)
            continue
        rest = MASKS_RE.sub("", clause)
        if len(_UNIT_RE.findall(rest)) > _NUMBER_ONLY_UNITS:
            kept.append(rest)
    text = "".join(kept).strip()
    return text or MASKS_RE.sub("", masked).strip() or masked
