"""Sentence splitting for Chinese and English replies and sources.

Citation markers such as "[1][2]" stay attached to the sentence they follow, closing
quotes and brackets stay with their sentence, and a full stop between digits (7.2%,
1.5万) or inside a number never ends a sentence.

Hand-written rather than taken from a library: the sentence splitters on PyPI (pysbd,
nltk punkt, spaCy's sentencizer) are English-first, split "。"-less Chinese badly and
know nothing of "[n]" markers, which must never be separated from their sentence.
"""

from __future__ import annotations

import re

# Terminators that always end a sentence (Chinese and full-width forms, and !/?).
_HARD_END = "。！？!?…"
# Closers that belong to the sentence before them.
_CLOSERS = "”’\"'」』）)】》"
_MARKERS = re.compile(r"(?:\s*\[\d{1,3}\])+")
_MARKER = re.compile(r"\[(\d{1,3})\]")
# Common English abbreviations whose full stop does not end a sentence.
_ABBREV = {"e.g", "i.e", "etc", "mr", "mrs", "ms", "dr", "no", "art", "vs", "cf", "approx", "st", "jr"}


def _is_sentence_period(text: str, i: int) -> bool:
    """Does the '.' at position i end a sentence?"""
    nxt = text[i + 1] if i + 1 < len(text) else ""
    prev = text[i - 1] if i > 0 else ""
    if prev.isdigit() and nxt.isdigit():  # 7.2, 1.5万
        return False
    if nxt and not (nxt.isspace() or nxt in _CLOSERS or nxt == "["):
        return False  # inside a token: "a.b", "www.x.com", "1.5"
    word = re.search(r"([A-Za-z.]+)$", text[:i])
    if word and word.group(1).lower().rstrip(".") in _ABBREV:
        return False
    if word and len(word.group(1)) == 1 and word.group(1).isupper():  # initials: "J. Smith"
        return False
    return True


def split_sentences(text: str, *, clauses: bool = False) -> list[str]:
    """Split text into sentences, stripped, markers attached, empty pieces dropped.

    With clauses=True a Chinese/English semicolon also ends a piece (statutes put several
    rules in one sentence separated by "；").
    """
    hard = _HARD_END + ("；;" if clauses else "")
    out: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        end = False
        if ch == "\n":
            end = True
        elif ch in hard:
            end = True
        elif ch == ".":
            end = _is_sentence_period(text, i)
        if not end:
            i += 1
            continue
        j = i + 1
        # a run of terminators ("？！", "……") belongs together
        while j < n and text[j] in hard:
            j += 1
        while j < n and text[j] in _CLOSERS:
            j += 1
        m = _MARKERS.match(text, j)
        if m:
            j = m.end()
        piece = re.sub(r"\s*\n\s*(?=\[\d)", "", text[start:j].strip())
        if piece:
            out.append(piece)
        start = j
        i = j
    tail = text[start:].strip()
    if tail:
        # markers alone on a line belong to the previous sentence
        if out and _MARKERS.fullmatch(tail):
            out[-1] += tail
        else:
            out.append(tail)
    return [s for s in out if strip_markers(s).strip(" \t" + _CLOSERS)]


def markers_in(sentence: str) -> list[int]:
    """The citation numbers in a sentence, in order of appearance (duplicates kept once)."""
    seen: list[int] = []
    for m in _MARKER.finditer(sentence):
        v = int(m.group(1))
        if v not in seen:
            seen.append(v)
    return seen


def strip_markers(sentence: str) -> str:
    return re.sub(r"\s*\[\d{1,3}\]", "", sentence).strip()


def is_chinese(text: str) -> bool:
    """Is the text mainly Chinese (more CJK characters than Latin letters)?"""
    cjk = sum(1 for c in text if "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf")
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    return cjk > 0 and cjk * 2 >= latin


# The sentence-end run a citation marker is put in front of: terminators, closers, spaces.
_TRAILING = re.compile(r"[。！？!?.…；;：:，,”’」』）)】》\s]*$")
_CLOSING = "”’」』）)】》\""


def with_markers(text: str, numbers: list[int]) -> str:
    """The sentence with "[n]" markers before its final punctuation ("…违约金[1]。", "…penalty [1].")
    but never inside a closing quote or bracket: 「…不得预先扣除。」[1], （以合同为准）[1]。"""
    if not numbers:
        return text
    marks = "".join(f"[{n}]" for n in numbers)
    tail = _TRAILING.search(text)
    cut = tail.start() if tail else len(text)
    closer = max((cut + i for i, ch in enumerate(text[cut:]) if ch in _CLOSING), default=-1)
    if closer >= 0:
        cut = closer + 1
    body, end = text[:cut], text[cut:]
    sep = " " if body and body[-1].isascii() and body[-1].isalnum() else ""
    return f"{body}{sep}{marks}{end}"


# ASCII punctuation beside a Chinese character (or a marker after one), as an LLM or a source
# typed with a Western keyboard writes it: "利息,以合同为准(年化)." The full-width forms are what
# a Chinese reply is sent with. Between digits ("1,000", "7.2%") and in Latin text nothing changes.
_CJK = "\u3400-\u4dbf\u4e00-\u9fff"
_FULL_WIDTH = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！", ".": "。"}
_ASCII_AFTER_CJK = re.compile(rf"(?<=[{_CJK}）」』”])((?:\[\d{{1,3}}\])*)([,;:?!]|\.(?=[{_CJK}]))")
_FINAL_PERIOD = re.compile(r"(?<![A-Za-z.])\.(?=(?:\[\d{1,3}\])*[”’」』）)]*\s*$)")
_CJK_IN_BRACKETS = re.compile(rf"\(([^()]*[{_CJK}][^()]*)\)")
_ASCII_BEFORE_CJK = re.compile(rf"([,;:])\s?(?=[{_CJK}])")  # 7.2%,按日计息


def full_width_punctuation(text: str) -> str:
    """A Chinese sentence with its ASCII , ; : ? ! in full width where they follow a Chinese
    character (, ; : also where one follows them), brackets around Chinese words as （ ）, and its final full stop as 。."""
    text = _CJK_IN_BRACKETS.sub(r"（\1）", text)  # a pair at once: never （年化18%)
    text = _ASCII_AFTER_CJK.sub(lambda m: m.group(1) + _FULL_WIDTH[m.group(2)], text)
    text = _ASCII_BEFORE_CJK.sub(lambda m: _FULL_WIDTH[m.group(1)], text)
    return _FINAL_PERIOD.sub("。", text)
