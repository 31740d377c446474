"""Structure-aware chunking: blocks (headings and paragraphs) → pieces with a section path.

The structure, in order of precedence:

* Markdown/Word/HTML headings (levels 1–6) build the section path; a heading equal to the
  document title is left out of the path.
* Chinese legal outlines: a paragraph ``第X编`` / ``第X章`` / ``第X节`` (when not already a
  heading) is a section level; each ``第X条`` with its continuation paragraphs is one piece
  whose section ends in the article, e.g. ``第十二章 借款合同 > 第六百七十条``. Articles are
  never merged with anything.
* Policy outlines ``一、`` ``(一)`` ``1.``/``1、`` ``(1)`` are found inside running text too
  (scraped documents put a whole outline on one line). A marker counts only when it continues
  its level's numbering (1, or the previous number + 1), so "2.5%" or "第一、二项" are not
  mistaken for outline items. A marker followed by a short phrase without sentence punctuation
  is a heading; one followed by sentences is an item (a piece).

Then pieces over ``MAX_CHARS`` are split between sentences (``kb.text.sentences``), consecutive
pieces in the same section are packed up to ``TARGET_CHARS``, and small neighbours under the
same parent are merged (their section becomes the parent). A piece's text is always a slice of
the document text (``span``), so it never starts or ends inside a sentence unless a single
sentence is longer than ``MAX_CHARS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.loaders.base import Block
from kb.text.numbers import parse_chinese
from kb.text.sentences import split_sentences

TARGET_CHARS = 500
MAX_CHARS = 1200
MIN_CHARS = 160

_CN_NUM = "零〇一二三四五六七八九十百千两"
_ARTICLE_RE = re.compile(rf"^(第[{_CN_NUM}\d]+[条條](?:之[{_CN_NUM}]+)?)(?:\s+|(?=[^\s]))")
_LEGAL_HEADING_RE = re.compile(rf"^第[{_CN_NUM}\d]+([编編章节節])(?:\s+[^。!?;]{{1,40}})?$")
_LEGAL_LEVEL = {"编": 1, "編": 1, "章": 2, "节": 3, "節": 3}
_OUTLINE_RE = re.compile(
    rf"(?P<l1>(?:^|(?<=[。!?;:\s”」)]))(?P<n1>[{_CN_NUM}]{{1,3}})、)"
    rf"|(?P<l2>\((?P<n2>[{_CN_NUM}]{{1,3}})\))"
    r"|(?P<l3>(?<![\d.])(?P<n3>\d{1,2})[.、](?!\d))"
    r"|(?P<l4>\((?P<n4>\d{1,2})\))"
)
# In legal text, a paragraph "（一）担保合同与担保物权的效力" is a sub-section heading.
_OUTLINE_HEADING_RE = re.compile(rf"^(?:[{_CN_NUM}]{{1,3}}、|\([{_CN_NUM}]{{1,3}}\))[^。!?;:,]{{1,28}}$")
_SENTENCE_PUNCT_RE = re.compile(r"[。!?;]")
_LABEL_END_RE = re.compile(r"[:,。;!?]")


@dataclass
class Piece:
    text: str
    section: tuple[str, ...]
    start: int  # offsets in the document text
    end: int
    page: int | None = None
    atomic: bool = False  # an article: never merged with its neighbours


def document_text(blocks: list[Block]) -> tuple[str, list[int]]:
    """The display text of a document (one block per line) and each block's offset in it."""
    offsets, pos = [], 0
    for b in blocks:
        offsets.append(pos)
        pos += len(b.text) + 1
    return "\n".join(b.text for b in blocks), offsets


def _number(s: str) -> int | None:
    return int(s) if s.isdigit() else parse_chinese(s)


def _label(segment: str, marker_len: int) -> str:
    """A short name for an outline item: its marker and lead phrase (up to a colon or comma)."""
    body = segment[marker_len:]
    m = _LABEL_END_RE.search(body)
    lead = body[: m.start()] if m and m.start() <= 16 else body[:12] + ("…" if len(body) > 12 else "")
    return (segment[:marker_len] + lead).strip()


class _Outline:
    """The running policy-outline state: the numbering per level and the labels in force."""

    def __init__(self) -> None:
        self.numbers: dict[int, int] = {}
        self.labels: dict[int, str] = {}

    def accepts(self, level: int, n: int | None) -> bool:
        return n is not None and (n == 1 or self.numbers.get(level) == n - 1)

    def enter(self, level: int, n: int, label: str) -> None:
        for lv in [lv for lv in {*self.numbers, *self.labels} if lv >= level]:
            self.numbers.pop(lv, None)
            self.labels.pop(lv, None)
        self.numbers[level] = n
        self.labels[level] = label

    def path(self) -> tuple[str, ...]:
        return tuple(self.labels[lv] for lv in sorted(self.labels))


def _outline_pieces(text: str, base: int, heading_path: tuple[str, ...], outline: _Outline, page):
    """Split one paragraph at outline markers; update ``outline``; yield item pieces."""
    markers = []
    for m in _OUTLINE_RE.finditer(text):
        level = next(lv for lv in (1, 2, 3, 4) if m.group(f"l{lv}"))
        n = _number(m.group(f"n{level}"))
        if outline.accepts(level, n):
            markers.append((m.start(f"l{level}"), m.end(f"l{level}"), level, n))
            outline.numbers[level] = n  # provisional, so the next marker's numbering is checked
            for lv in [lv for lv in outline.numbers if lv > level]:
                outline.numbers.pop(lv)
    # replay with labels now that the marker positions are known. A heading-only segment
    # ("二、人員管理") starts the text of the next piece, so nothing of the text is lost.
    bounds = [mk[0] for mk in markers] + [len(text)]
    pending: int | None = None
    if not markers or markers[0][0] > 0:
        lead = text[: bounds[0]].strip()
        if lead:
            s = text.find(lead)
            yield Piece(lead, heading_path + outline.path(), base + s, base + s + len(lead), page)
    for i, (start, mend, level, n) in enumerate(markers):
        segment = text[start : bounds[i + 1]].rstrip()
        if not segment:
            continue
        is_heading = len(segment) <= 30 and not _SENTENCE_PUNCT_RE.search(segment)
        outline.enter(level, n, segment if is_heading else _label(segment, mend - start))
        if is_heading:
            pending = start if pending is None else pending
            continue
        first = start if pending is None else pending
        pending = None
        yield Piece(text[first : start + len(segment)], heading_path + outline.path(), base + first,
                    base + start + len(segment), page)
    if pending is not None:
        tail = text[pending:].rstrip()
        yield Piece(tail, heading_path + outline.path(), base + pending, base + pending + len(tail), page)


def structure(blocks: list[Block], title: str | None = None) -> tuple[str, list[Piece]]:
    """(document text, pieces in document order) before size limits are applied."""
    text, offsets = document_text(blocks)
    headings: list[tuple[int, str]] = []
    outline = _Outline()
    article: Piece | None = None
    legal = False  # seen a 第X条 article
    pieces: list[Piece] = []

    def heading_path() -> tuple[str, ...]:
        return tuple(h for _, h in headings if h != title)

    def push_heading(level: int, name: str) -> None:
        nonlocal article, outline
        while headings and headings[-1][0] >= level:
            headings.pop()
        headings.append((level, name))
        article, outline = None, _Outline()

    for block, off in zip(blocks, offsets, strict=True):
        if block.level:
            push_heading(block.level, block.text)
            continue
        m = _LEGAL_HEADING_RE.match(block.text)
        if m:
            push_heading(_LEGAL_LEVEL[m.group(1)], block.text)
            continue
        if legal and _OUTLINE_HEADING_RE.match(block.text):
            push_heading(7 if block.text.startswith("(") else 6, block.text)
            continue
        m = _ARTICLE_RE.match(block.text)
        if m:
            legal = True
            article = Piece(block.text, heading_path() + (m.group(1),), off, off + len(block.text), block.page, True)
            pieces.append(article)
            continue
        if article is not None and block.page == article.page:
            article.end = off + len(block.text)  # a continuation paragraph of the article
            article.text = text[article.start : article.end]
            continue
        pieces.extend(_outline_pieces(block.text, off, heading_path(), outline, block.page))
    return text, pieces


def _split_long(piece: Piece, text: str) -> list[Piece]:
    """Split a piece over MAX_CHARS between sentences into parts of about TARGET_CHARS."""
    if len(piece.text) <= MAX_CHARS:
        return [piece]
    spans: list[tuple[int, int]] = []
    pos = piece.start
    for sentence in split_sentences(piece.text, clauses=True):
        s = text.find(sentence, pos, piece.end)
        if s < 0:  # the splitter normalised something; fall back to where we are
            s = pos
        e = min(piece.end, s + len(sentence))
        while e - s > MAX_CHARS:  # one sentence longer than the limit: cut at a comma or space
            window = text[s : s + MAX_CHARS]
            cut = max(window.rfind(","), window.rfind("，"), window.rfind(" "), window.rfind("、"))
            cut = cut + 1 if cut > MAX_CHARS // 2 else MAX_CHARS
            spans.append((s, s + cut))
            s += cut
        spans.append((s, e))
        pos = e
    parts: list[Piece] = []
    cur: list[int] | None = None
    for s, e in spans:
        if cur is not None and e - cur[0] <= TARGET_CHARS:
            cur[1] = e
        else:
            if cur is not None:
                parts.append(cur)
            cur = [s, e]
    if cur is not None:
        parts.append(cur)
    return [
        Piece(text[s:e].strip(), piece.section, s, e, piece.page, piece.atomic)
        for s, e in parts
        if text[s:e].strip()
    ]


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _mergeable(cur: Piece, nxt: Piece) -> bool:
    if cur.atomic or nxt.atomic or cur.page != nxt.page or nxt.end - cur.start > TARGET_CHARS:
        return False
    if cur.section == nxt.section:
        return True
    common = _common(cur.section, nxt.section)
    if not common:  # top-level sections keep their own chunks (and their names in citations)
        return False
    related = len(common) >= max(len(cur.section), len(nxt.section)) - 1  # siblings or parent/child
    return related and (len(cur.text) < MIN_CHARS or len(nxt.text) < MIN_CHARS)


def chunk_blocks(blocks: list[Block], title: str | None = None) -> tuple[str, list[Piece]]:
    """(document text, final pieces): structure, long pieces split, small neighbours merged."""
    text, pieces = structure(blocks, title)
    out = [part for p in pieces for part in _split_long(p, text)]
    while True:  # merge until stable: items into their subsection, then subsections together
        merged: list[Piece] = []
        for p in out:
            if merged and _mergeable(merged[-1], p):
                cur = merged[-1]
                cur.section = _common(cur.section, p.section)
                cur.end = p.end
                cur.text = text[cur.start : cur.end].strip()
            else:
                merged.append(p)
        if len(merged) == len(out):
            return text, merged
        out = merged


def section_string(section: tuple[str, ...]) -> str:
    return " > ".join(section)
