"""Verification of a composed reply, sentence by sentence, against the sources it cites.

A sentence is kept only when it carries a marker [n] naming a retrieved source AND that
source supports it: the sentence is semantically close to the source's best sentence
(e5 cosine similarity above SUPPORT_THRESHOLD, or a verbatim quote) and every number it
states appears in the source (kb.text.numbers compares 三十天 with 30天, 百分之二十四 with 24%).
Markers naming no retrieved source are removed; a sentence left with none is dropped.
Sentences the composer wrote itself (greeting, closing) are marked `own` by the composer
and exempt; an LLM cannot mark its own sentences.

SUPPORT_THRESHOLD was calibrated on 20 pairs of (source sentence, faithful paraphrase) and 16
pairs of (source sentence, sentence on another topic of the same corpus), Chinese and English
(tests/test_verify.py, marked slow). With multilingual-e5-small ("query: " prefix on both
sides) paraphrases scored 0.944-0.993 (median 0.977) and unrelated sentences 0.780-0.901
(median 0.856); 0.92 sits in the gap. A same-topic contradiction ("借款人可以随时还款，不需要
支付任何利息" against "借款人应当按照约定的期限返还借款") still scores 0.934: similarity
cannot see a reversed rule, which is why composers quote and LLM output is held to markers.
Altered facts (a changed number) are caught by the number check, not by similarity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb.index.similarity import SentenceSimilarity
from kb.text.norm import normalize
from kb.text.numbers import missing_numbers
from kb.text.sentences import (
    full_width_punctuation,
    is_chinese,
    markers_in,
    split_sentences,
    strip_markers,
    with_markers,
)
from kb.types import Citation, Hit

SUPPORT_THRESHOLD = 0.92
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_LABEL = re.compile(r"^\s*第[零〇一二两三四五六七八九十百千\d]+条(?:之[一二三四五六七八九十]+)?\s*")
_QA_LABEL = re.compile(r"^\s*(?:问|答|回答|Q|A|Answer)\s*[:：]\s*", re.IGNORECASE)


@dataclass
class Piece:
    """One sentence of a draft reply. `own`: written by CiteDesk itself (greeting, closing,
    acknowledgement) and exempt from the support check."""

    text: str
    own: bool = False
    agent: bool = False  # guidance for the agent, not words for the customer (kb.answer.parts)


@dataclass
class Checked:
    text: str  # the sentence without markers
    own: bool
    cited: list[int] = field(default_factory=list)  # 0-based hit indexes that support it
    quotes: dict[int, str] = field(default_factory=dict)  # hit index -> source sentence used
    support: float = 1.0  # best similarity to a cited source (1.0 for own/verbatim sentences)
    agent: bool = False  # guidance for the agent (kb.answer.parts)


@dataclass
class VerifyResult:
    kept: list[Checked]
    dropped: list[str]
    removed_markers: int = 0

    @property
    def answer_sentences(self) -> list[Checked]:
        return [c for c in self.kept if not c.own]


def _key(text: str) -> str:
    return _PUNCT.sub("", normalize(text))


def source_sentences(text: str) -> list[str]:
    return split_sentences(text) or [text.strip()]


def supports(sentence: str, chunk_text: str, sim: SentenceSimilarity, threshold: float) -> tuple[bool, float, str]:
    """Does the chunk support the sentence? Returns (ok, similarity, best source sentence)."""
    core = strip_markers(sentence)
    sents = source_sentences(chunk_text)
    key = _key(core)
    if key and key in _key(chunk_text):
        quote = next((s for s in sents if key in _key(s)), core)
        score = 1.0
    else:
        # an article label ("第六百七十条 ") is not part of what the sentence says
        score, i = sim.best(core, [_LABEL.sub("", s) or s for s in sents])
        quote = sents[i] if i >= 0 else ""
    quote = _QA_LABEL.sub("", quote) or quote
    if missing_numbers(core, chunk_text):
        return False, score, quote
    return score >= threshold, score, quote


def check_support(
    pieces: list[Piece], hits: list[Hit], sim: SentenceSimilarity, threshold: float = SUPPORT_THRESHOLD
) -> VerifyResult:
    """Keep own sentences and supported cited sentences; list the rest in `dropped`.
    Markers are 1-based positions in `hits`."""
    kept: list[Checked] = []
    dropped: list[str] = []
    removed_markers = 0
    for piece in pieces:
        text = piece.text.strip()
        if not text:
            continue
        core = strip_markers(text)
        if piece.own:
            kept.append(Checked(core, True, agent=piece.agent))
            continue
        marks = markers_in(text)
        valid = [n for n in marks if 1 <= n <= len(hits)]
        removed_markers += len(marks) - len(valid)
        if not valid or not _key(core):
            if _key(core):
                dropped.append(core)
            continue
        checked = Checked(core, False, support=0.0, agent=piece.agent)
        for n in valid:
            ok, score, quote = supports(core, hits[n - 1].chunk.text, sim, threshold)
            if ok:
                checked.cited.append(n - 1)
                checked.quotes[n - 1] = quote
                checked.support = max(checked.support, score)
            else:
                removed_markers += 1
        if checked.cited:
            kept.append(checked)
        else:
            dropped.append(core)
    return VerifyResult(kept, dropped, removed_markers)


_ENGLISH_END = re.compile(r"[A-Za-z0-9][.!?:;]$")


def finalize(kept: list[Checked], hits: list[Hit]) -> tuple[str, list[Citation]]:
    """The reply text with citations renumbered 1..n in order of first use, and the
    citations (each referenced in the text, each quoting the source sentences used)."""
    parts, citations = finalize_parts(kept, hits)
    return join_sentences(parts), citations


def finalize_parts(kept: list[Checked], hits: list[Hit]) -> tuple[list[str], list[Citation]]:
    """Each kept sentence with its markers (citations renumbered 1..n in order of first use), and
    the citations; a citation first used by a sentence for the agent is marked part="guidance"."""
    order: dict[int, int] = {}
    part: dict[int, str] = {}
    quotes: dict[int, list[str]] = {}
    parts: list[str] = []
    for c in kept:
        nums = []
        for h in c.cited:
            if h not in order:
                order[h] = len(order) + 1
                part[h] = "guidance" if c.agent else "reply"
            q = c.quotes.get(h, "")
            if q and q not in quotes.setdefault(h, []):
                quotes[h].append(q)
            nums.append(order[h])
        parts.append(with_markers(c.text, nums))
    if is_chinese("".join(parts)):  # an LLM's or a source's ASCII punctuation as a Chinese reply is sent
        parts = [full_width_punctuation(p) for p in parts]
    citations = [
        citation(order[h], hits[h], " … ".join(quotes.get(h, [])), part[h]) for h in sorted(order, key=order.get)
    ]
    return parts, citations


def join_sentences(parts: list[str]) -> str:
    chinese = is_chinese("".join(parts))
    if chinese:  # an LLM's or a source's ASCII punctuation as a Chinese reply is sent
        parts = [full_width_punctuation(p) for p in parts]
    text = ""
    for p in parts:
        # English sentences are separated by a space, also in an English reply that quotes
        # Chinese sources ("…seriously. Under our procedure: 先安抚情绪…"); Chinese ones are not
        if text and not text.endswith(" ") and (not chinese or _ENGLISH_END.search(text)):
            text += " "
        text += p
    return text.strip()


def citation(n: int, hit: Hit, quote: str, part: str = "reply") -> Citation:
    ch = hit.chunk
    version = ch.meta.get("version")
    return Citation(
        n=n,
        chunk_id=ch.chunk_id,
        doc_id=ch.doc_id,
        title=ch.meta.get("title", ""),
        section=ch.section,
        source=ch.meta.get("source", ""),
        quote=quote,
        version=str(version) if version not in (None, "") else None,
        part=part,
    )
