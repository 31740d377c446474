"""What a reply may quote from a chunk: its answer part (an FAQ's answer, a case's resolution, else
all of it), split into sentences, with where they sit in lists.

The knowledge base embeds these sentences at ingest (kb.knowledge), the re-ranking scores a chunk by
its best one (kb.search.rerank) and the extractive composer quotes them (kb.answer.composer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.text.norm import standard_chinese, to_simplified
from kb.text.pii import MASKS_RE
from kb.text.sentences import is_chinese, split_sentences
from kb.types import Chunk

_LABEL = re.compile(r"^\s*第[零〇一二两三四五六七八九十百千\d]+条(?:之[一二三四五六七八九十]+)?\s+")
_ANSWER_LABEL = re.compile(r"(?:^|\n)\s*(?:答|回答|答复|A|Answer)\s*[:：]\s*", re.IGNORECASE)
_RESOLUTION_LABEL = re.compile(r"(?:^|\n)\s*(?:处理方式|处理結果|处理结果|處理方式|處理結果|解决方案|解決方案|resolution)\s*[:：]\s*", re.IGNORECASE)
_PREFIX = re.compile(r"\s*[（(]?[一二三四五六七八九十\d]{1,3}[)）.、．]\s*")
_TERMINAL = re.compile(r"[。！？!?.；;]\s*$")
_INTRODUCES = re.compile(r"[:：]\s*$")
_NAMES_LIST = re.compile(r"下列|如下|the following", re.IGNORECASE)
LEAD_SPAN = 3  # sentences looked back from a list's colon for the one that names the list


def language(question: str) -> str:
    return "zh" if is_chinese(question) or not re.search(r"[A-Za-z]", question) else "en"


def answer_part(chunk: Chunk) -> str:
    """The part of a chunk that answers: an FAQ's answer, a case's resolution, else all of it."""
    text = chunk.text
    record = chunk.meta.get("record")
    if record == "faq":
        m = _ANSWER_LABEL.search(text)
        if m:
            return text[m.end() :]
        keys = {k.strip() for k in chunk.meta.get("keys") or []}
        return "\n".join(line for line in text.splitlines() if line.strip() not in keys)
    if record == "case":
        m = _RESOLUTION_LABEL.search(text)
        if m:
            nxt = re.search(r"\n\s*\S{1,8}[:：]", text[m.end() :])
            return text[m.end() : m.end() + nxt.start()] if nxt else text[m.end() :]
    return text


def answer_sentences(chunk: Chunk) -> list[str]:
    """The sentences a reply may quote from a chunk: what `candidates` scores and embeds, and
    what the knowledge base embeds ahead at ingest."""
    return [s for _, s in _sentence_parts(answer_part(chunk))]


def _sentence_parts(text: str, leads: bool = False) -> list[tuple[str, str]]:
    """(list label removed, sentence) for each quotable sentence of a text; with leads=True also
    the short sentences that introduce a list ("前款规定不适用下列文书:"), which are not quoted
    for themselves."""
    out = []
    for s in split_sentences(text):
        if s.startswith("#") or s.startswith("<!--"):
            continue
        s = _LABEL.sub("", s).strip()
        # list numbering ("3." "（二）") is layout, not content; a step's label ("先安抚情绪:") is kept
        label = ""
        m = _PREFIX.match(s)
        if m and m.end() and len(s) - m.end() >= 12:
            label, s = s[: m.end()].strip(), s[m.end() :]
        if (len(s) < 6 or not _TERMINAL.search(s) and len(s) < 15) and not (leads and _INTRODUCES.search(s)):
            continue  # headings, labels, fragments
        if MASKS_RE.search(s) and len(MASKS_RE.sub("", s)) < 8:
            continue  # "投诉邮箱[邮箱]。": a label whose value was masked at ingest tells the customer nothing
        out.append((label, s))
    return out


@dataclass
class ListShape:
    """Where a chunk's quotable sentences sit in lists: `labels[i]` is sentence i's numbering
    ("（三）"; empty when it kept it in its text or has none) and `leads[i]` the position of the
    sentence that introduces the list sentence i is an item of ("前款规定不适用下列文书:")."""

    sentences: list[str]
    labels: list[str]
    leads: list[int | None]

    def items(self, lead: int) -> list[int]:
        return [i for i, x in enumerate(self.leads) if x == lead]

    def lead_span(self, lead: int) -> range:
        """The sentences that introduce a list: the one ending with the colon, and the ones
        before it back to the one that names the list, when the colon ends a later sentence of
        the same paragraph ("…有下列行为之一的,…没收违法所得。给信息主体造成损失的,…追究刑事责任:")."""
        for j in range(lead, max(lead - LEAD_SPAN, -1), -1):
            if _NAMES_LIST.search(self.sentences[j]):
                return range(j, lead + 1)
        return range(lead, lead + 1)

    def find(self, text: str, position: int) -> int | None:
        """The index of an answer sentence (`position` in answer_sentences) in `sentences`,
        which also has the short leads answer_sentences leaves out."""
        return next((i for i in range(position, len(self.sentences)) if self.sentences[i] == text), None)


def list_shape(chunk: Chunk) -> ListShape:
    parts = _sentence_parts(answer_part(chunk), leads=True)
    leads: list[int | None] = []
    lead = None
    for i, (label, s) in enumerate(parts):
        numbered = bool(label) or bool(_PREFIX.match(s))
        if lead is None or not numbered:
            lead = None
        leads.append(lead)
        if _INTRODUCES.search(s):
            lead = i
    return ListShape([s for _, s in parts], [label for label, _ in parts], leads)


def scoring_text(question: str) -> str:
    """The text whose e5 vector source sentences are scored against: standard written Chinese in
    Simplified script, like the sources (kb.answer.pipeline computes its vector ahead, during the search)."""
    return to_simplified(standard_chinese(question))
