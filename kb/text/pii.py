"""Masking of personal numbers before anything is logged, stored or sent to a model.

Validation uses python-stdnum (PRC resident ID checksum, Luhn for bank cards) so that an
18-digit loan contract number or an amount is not mistaken for an ID card. Mobile numbers
and e-mail addresses have no checksum; they are matched by shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import luhn
from stdnum.cn import ric

# Digits may be written with spaces or dashes in between (bank cards often are: 6222 0212 ...).
# ID numbers are also written in groups: 110105 19491231 002X
_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{6}[ -]?\d{8}[ -]?\d{3}[0-9Xx])(?![0-9A-Za-z])")
_CARD_RE = re.compile(r"(?<![0-9])((?:\d[ -]?){15,18}\d)(?![0-9])")
_MOBILE_RE = re.compile(r"(?<![0-9])(?:\+?86[ -]?)?(1[3-9]\d[ -]?\d{4}[ -]?\d{4})(?![0-9])")
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

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
    return re.sub(r"[ -]", "", s)


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

    def count(kind: str) -> None:
        found[kind] = found.get(kind, 0) + 1

    def id_sub(m: re.Match) -> str:
        if ric.is_valid(_digits(m.group(1)).upper()):
            count("id_card")
            return ID_MASK
        return m.group(0)

    def card_sub(m: re.Match) -> str:
        digits = _digits(m.group(1))
        if 16 <= len(digits) <= 19 and luhn.is_valid(digits):
            count("bank_card")
            return CARD_MASK
        return m.group(0)

    def mobile_sub(m: re.Match) -> str:
        if _digits(m.group(1)) in keep:
            return m.group(0)
        count("mobile")
        return MOBILE_MASK

    def email_sub(m: re.Match) -> str:
        address = m.group(0).lower()
        if address in keep or address[address.index("@") :] in keep:
            return m.group(0)
        count("email")
        return EMAIL_MASK

    text = _EMAIL_RE.sub(email_sub, text)
    text = _ID_RE.sub(id_sub, text)
    text = _CARD_RE.sub(card_sub, text)
    text = _MOBILE_RE.sub(mobile_sub, text)
    return MaskResult(text=text, found=found)


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
