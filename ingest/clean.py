"""Cleaning of extracted text before it is chunked.

Steps (``clean_text`` runs them in this order):

1. Unicode NFKC (full-width letters, digits and punctuation become their ASCII forms); private-use
   code points (font glyphs, not text) are dropped.
2. Pinyin annotations that document sites put after a character — ``規(guī)``, ``與(yǔ)`` — are
   removed. Only a parenthesised *toned* pinyin syllable right after a CJK character counts, so
   real parentheses such as ``(一)``, ``(1)`` or ``(see below)`` are kept.
3. Document-site boilerplate is dropped: page-title lines (``…_第1頁``), ``已閱讀5頁…``,
   ``下載本文檔``, ``版權說明…``, ``文檔簡介``, and everything from ``溫馨提示`` on (the site's
   notices, 最新文檔, 評論, 0/150, 提交評論). Lines are compared in simplified script
   (``kb.text.norm.to_simplified``) so Traditional and Simplified pages are both recognised.
4. Markup: HTML tags, comments and script/style elements are removed (``kb.text.markup``), so a
   document's raw HTML never reaches the index or a reply.
5. Whitespace: spaces and tabs collapse to one, blank-line runs collapse to one blank line.

The text keeps its original script (Traditional stays Traditional); the Traditional→Simplified
form is made by ``kb.text.norm`` at indexing time.

``split_info_header`` separates the statute files' info header (the lines before
``<!-- INFO END -->``: title headings and dated adoption/amendment lines) from the body.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from kb.text.markup import strip_markup
from kb.text.norm import to_simplified

_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
_PINYIN_LETTERS = f"a-zü{_TONED}"
# A CJK character followed by "(syllable)" where the syllable carries a tone mark.
_PINYIN_RE = re.compile(
    rf"(?<=[\u3400-\u9fff\uf900-\ufaff])\((?=[{_PINYIN_LETTERS}]*[{_TONED}])[{_PINYIN_LETTERS}]{{1,7}}\)"
)

# Boilerplate lines, matched against the simplified form of a stripped line.
_BOILERPLATE_LINE_RES = [
    re.compile(r"^.{1,120}_第\s*\d+\s*页$"),  # page-title lines: "…管理规定_第1页"
    re.compile(r"^已阅读\s*\d+\s*页"),  # "已阅读5页,还剩2页未读, 继续免费阅读"
    re.compile(r"^(?:点击)?下载本文档$"),
    re.compile(r"^版权说明[:：]"),
    re.compile(r"^文档简介$"),
]
_TAIL_START_RE = re.compile(r"^温馨提示$")  # the site's notices and comment box follow
_INFO_END = "<!-- INFO END -->"
_DATE_CN_RE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def strip_private_use(text: str) -> str:
    """Private-use code points are glyphs of some font, not text (scraped pages carry them)."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Co")


def strip_pinyin(text: str) -> str:
    """Remove pinyin annotations like ``規(guī)`` → ``規``; keep every other parenthesis."""
    return _PINYIN_RE.sub("", text)


def strip_boilerplate(text: str) -> str:
    """Drop document-site boilerplate lines and the site's trailing notices."""
    kept: list[str] = []
    for line in text.split("\n"):
        probe = to_simplified(line.strip())
        if _TAIL_START_RE.match(probe):
            break
        if any(r.match(probe) for r in _BOILERPLATE_LINE_RES):
            continue
        kept.append(line)
    return "\n".join(kept)


def collapse_whitespace(text: str) -> str:
    """One space for runs of spaces/tabs, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\u3000", " ")
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def clean_text(text: str) -> str:
    """NFKC, pinyin annotations, site boilerplate, markup, whitespace — in that order."""
    text = text.lstrip("\ufeff")
    text = strip_private_use(nfkc(text))
    text = strip_pinyin(text)
    text = strip_boilerplate(text)
    text = strip_markup(text)
    return collapse_whitespace(text)


def clean_inline(text: str) -> str:
    """Cleaning for a short piece (a heading, a table cell, a record field): no line structure."""
    return re.sub(r"\s+", " ", strip_markup(strip_pinyin(nfkc(text)))).strip()


@dataclass
class InfoHeader:
    """What a statute file's info header says: its title and the dates in it."""

    title: str | None = None
    effective_date: str | None = None
    dates: list[tuple[str, str]] = field(default_factory=list)  # (ISO date, what happened)


def _iso(m: re.Match) -> str:
    return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"


def split_info_header(text: str) -> tuple[InfoHeader | None, str]:
    """Split off the header that ends at ``<!-- INFO END -->``; (None, text) when there is none.

    The title is the header's headings joined by a space; the effective date is the date of the
    line that says 施行, else the latest date in the header (the last amendment).
    """
    idx = text.find(_INFO_END)
    if idx < 0:
        return None, text
    head, body = text[:idx], text[idx + len(_INFO_END) :]
    info = InfoHeader()
    titles: list[str] = []
    for raw in head.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            titles.append(clean_inline(line.lstrip("#")))
            continue
        m = _DATE_CN_RE.search(line)
        if m:
            what = clean_inline(line[m.end() :])
            info.dates.append((_iso(m), what))
            if "施行" in what or "施行" in to_simplified(what):
                info.effective_date = _iso(m)
    if titles:
        info.title = " ".join(titles)
    if info.effective_date is None and info.dates:
        info.effective_date = max(d for d, _ in info.dates)
    return info, body
