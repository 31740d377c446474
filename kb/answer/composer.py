"""The extractive composer: the reply is made of source sentences, verbatim.

Sentences of the top hits are scored against the question (e5 similarity plus lexical
overlap, a bonus for sentences with numbers when the question asks 多少/几/多久, a small
prior for the hit's retrieval score); the best few are ordered as they appear in the sources and
wrapped in a short polite reply in the customer's language. CiteDesk writes only the
connecting words (greeting, lead-ins, closing), which are marked `own`; every fact, number
and condition comes from a source and carries its [n] marker (n = position in `hits`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb.answer.parts import internal
from kb.answer.verify import Piece
from kb.index.similarity import SentenceSimilarity
from kb.text.lexicon import Lexicon
from kb.text.markup import strip_markup
from kb.text.norm import to_simplified, tokenize
from kb.text.numbers import asks_for_number, extract_numbers
from kb.text.question import Question
from kb.text.quotable import ListShape, answer_sentences, list_shape
from kb.types import Chunk, Hit

PHRASES = {
    "zh": {
        "greeting": "您好，",
        "closing": "如还有其他问题，欢迎随时联系我们。",
        "complaint": "非常理解您的心情，我们会认真对待您反映的问题。",
        "complaint_lead": "按照我们的投诉处理流程：",
        "case_lead": "类似的历史案例处理方式为：",
        "abstain": "关于您的问题，知识库中暂时没有可作为依据的内容，建议转交主管或相关专员进一步核实处理。",
        "account": "您询问的是具体账户的信息，知识库中没有个人账户数据，请在核实客户身份后到业务系统中查询。",
    },
    "en": {
        "greeting": "Hello.",
        "closing": "If you have any other questions, please let us know.",
        "complaint": "We fully understand how you feel, and we take your concern seriously.",
        "complaint_lead": "Under our complaint-handling procedure:",
        "case_lead": "A similar past case was resolved as follows:",
        "abstain": "The knowledge base has no basis for answering this question; "
        "please escalate it to a supervisor or specialist.",
        "account": "This asks about one customer's account, which the knowledge base does not hold; "
        "please verify the customer's identity and look it up in the business system.",
    },
}
# A sentence, as a procedure states it: the re-ranking (kb/search/rerank.py) compares the query with the
# candidates' sentences, and a bag of keywords matched a neighbouring rule's list of duties instead.
COMPLAINT_QUERY = "客户投诉时，坐席先安抚客户情绪，记录投诉内容，再转交责任部门处理。"
MAX_SENTENCES = 4
MAX_CANDIDATES = 16
# A sentence's score: e5 similarity to the question + LEXICAL_WEIGHT × share of the question's
# terms it contains + RELEVANCE_WEIGHT × its hit's score relative to the top hit
# + NUMBER_BONUS when the question asks for a number and it has one − RANK_PENALTY × hit rank.
# Sentences come from the first ANSWER_HITS hits (and further hits scoring ≥ 0.8 × the top).
ANSWER_HITS = 5
LEXICAL_WEIGHT = 0.15
RELEVANCE_WEIGHT = 0.1
NUMBER_BONUS = 0.03
RANK_PENALTY = 0.0
SAME_SOURCE_MARGIN = 0.08  # another sentence of the best source joins when within this of the best
SECOND_SOURCE_MARGIN = 0.08  # another source's best sentence joins when within this of the best
# … and when its hit's score is at least this share of the best sentence's hit (the same
# bar for a near-tied sentence of another source in the first pass of `select`). Statute
# articles' scores are far apart (0.27, 0.12, 0.06 for three relevant articles is common); 0.3
# rather than 0.5 put more of the expected facts into replies on all three Q&A sets, at the cost
# of more citations that are not the expected source (docs/answers.md).
SECOND_SOURCE_RELEVANCE = 0.3
MAX_EXTRA_SOURCES = 2
# what the reply quotes after the sentence that answers (`_brief`); measured in docs/benchmarks.md
MAX_SUPPORTING = 3
SUPPORT_CHARS = 160
LEAD_CHARS = 80  # a second sentence of the first source joins the answer when it is this short
MAX_LIST_ITEMS = 4  # sentences kept after one that introduces a list (ends with a colon)
_ITEM_END = re.compile(r"[;；]\s*$")


@dataclass
class Candidate:
    hit_index: int
    position: int
    text: str  # display text (verbatim, article label removed)
    score: float = 0.0
    dense: float = 0.0
    lexical: float = 0.0
    listed: bool = False  # introduces or is an item of a list quoted with it: said where it stands
    # the share of the question's terms in the sentence alone, without an FAQ's question: the
    # abstention model's features (the best share, and the similarity of the sentence the score
    # ranks first when it counts this share) were fitted on it (kb.answer.pipeline)
    plain: float = 0.0
    # it has a word of the question, or a legal term the lexicon gives for one of its lay words
    # (担保人 → 保证, 借钱 → 借款): what lets a sentence of another source join the reply (`select`)
    shares_word: bool = False

    @property
    def feature_score(self) -> float:
        return self.score - LEXICAL_WEIGHT * (self.lexical - self.plain)


@dataclass
class Draft:
    pieces: list[Piece]
    best_similarity: float  # question ↔ best answer sentence (a confidence feature)
    best_lexical: float
    best_sentence: dict[int, str] = field(default_factory=dict)  # hit index -> its best-scored sentence
    best_score: float = 0.0  # the best candidate sentence's score (kb.answer.products compares with it)


def _share(terms: list[set[str]], tokens: set[str]) -> float:
    """The share of the question's terms (each with its alternatives) found among the tokens."""
    return sum(1 for alts in terms if alts & tokens) / len(terms) if terms else 0.0


class ExtractiveComposer:
    def __init__(self, sim: SentenceSimilarity, lexicon: Lexicon | None = None, max_sentences: int = MAX_SENTENCES) -> None:
        self.sim = sim
        self.lexicon = lexicon or Lexicon()
        self.max_sentences = max_sentences

    def question(self, question: str | Question) -> Question:
        return question if isinstance(question, Question) else Question.parse(question, self.lexicon, mask=False)

    def candidates(self, question: str | Question, hits: list[Hit], answer_hits: int | None = None) -> list[Candidate]:
        """Scored candidate sentences from the top hits (best first); written Cantonese is scored
        in standard Chinese (Question.standard)."""
        if not hits:
            return []
        q = self.question(question)
        answer_hits = ANSWER_HITS if answer_hits is None else answer_hits
        top = hits[0].score
        use = [i for i, h in enumerate(hits[: answer_hits + 2]) if i < answer_hits or h.score >= 0.8 * top]
        # the share of the question's terms a sentence contains; an English question shares no
        # words with Chinese sources, so its words count as found through their Chinese terms
        # in the lexicon (kb.text.lexicon). Chinese questions keep the literal overlap the
        # abstention model was fitted on: counting lay → legal terms for them too left the
        # statute numbers unchanged but made "你们总经理的手机号是多少" look answerable. Whether
        # a sentence shares a word at all does count the legal terms (`Candidate.shares_word`).
        alternatives = q.alternatives  # each question token -> itself and its legal terms
        terms = list(alternatives.values()) if q.language == "en" else [{t} for t in alternatives]
        wants_number = asks_for_number(q.standard)
        cands: list[Candidate] = []
        for i in use:
            # an FAQ's answer is read with its question: an answer that does not repeat the product's
            # name ("按时还款满6期的客户可在App内申请提额") still shares it through its question
            # (other documents' headings were tried too: a regulation's broad section headings drew
            # replies away from the article that answers; docs/benchmarks.md)
            chunk = hits[i].chunk
            heading = set(tokenize(chunk.section)) if chunk.meta.get("record") == "faq" else set()
            for pos, s in enumerate(answer_sentences(chunk)):
                s_tokens = set(tokenize(s))
                read = s_tokens | heading
                plain = _share(terms, s_tokens)
                cands.append(Candidate(
                    i, pos, s, lexical=_share(terms, read) if heading else plain, plain=plain,
                    shares_word=any(alts & read for alts in alternatives.values()),
                ))
        if not cands:
            return []
        # embedding is the expensive step: only the lexically and positionally likeliest
        cands.sort(key=lambda c: (-c.lexical, c.hit_index, c.position))
        cands = cands[:MAX_CANDIDATES]
        emb = self.sim.embed([q.simplified] + [c.text for c in cands])
        dense = emb[1:] @ emb[0]
        for c, d in zip(cands, dense, strict=True):
            c.dense = float(d)
            bonus = NUMBER_BONUS if wants_number and extract_numbers(c.text) else 0.0
            # retrieval's score is calibrated across chunks; a sentence of the top hit needs
            # a clearly better match before a weaker hit's sentence is preferred
            rel = hits[c.hit_index].score / top if top > 0 else 0.0
            c.score = c.dense + LEXICAL_WEIGHT * c.lexical + RELEVANCE_WEIGHT * rel + bonus - RANK_PENALTY * c.hit_index
        cands.sort(key=lambda c: -c.score)
        return cands

    def select(self, cands: list[Candidate], hits: list[Hit]) -> list[Candidate]:
        if not cands:
            return []
        best = cands[0]
        if hits[best.hit_index].chunk.meta.get("record") == "faq":
            # an FAQ answers with its answer, in order
            same = [c for c in cands if c.hit_index == best.hit_index]
            chosen = sorted(same, key=lambda c: c.position)[: self.max_sentences]
        else:
            chosen = [best]
            for c in cands[1:]:
                if len(chosen) >= self.max_sentences:
                    break
                same_hit = c.hit_index == best.hit_index
                strong = hits[c.hit_index].score >= SECOND_SOURCE_RELEVANCE * hits[best.hit_index].score
                margin = SAME_SOURCE_MARGIN if same_hit else 0.02
                if c.score >= best.score - margin and (same_hit or (strong and c.shares_word)):
                    chosen.append(c)
        # when another strong source matches almost as well, its best sentence joins: the top
        # hits often split one answer (an FAQ and the product section it summarises). It must share
        # a word with the question (or a legal term for one of its lay words: the customer's 担保人
        # is the statute's 保证人), except for retrieval's first hit: a statute article found
        # through its customers' phrasings (question keys) often shares none, and a reply that
        # leaves out the source retrieval trusts most for a near-tie is the worse reply.
        used = {c.hit_index for c in chosen}
        extra = 0
        for c in cands[1:]:
            if extra >= MAX_EXTRA_SOURCES:
                break
            if c.hit_index in used or c.text in {x.text for x in chosen}:
                continue
            if (
                c.score >= best.score - SECOND_SOURCE_MARGIN
                and (c.shares_word or c.hit_index == 0)
                and hits[c.hit_index].score >= SECOND_SOURCE_RELEVANCE * hits[best.hit_index].score
            ):
                chosen.append(c)
                used.add(c.hit_index)
                extra += 1
        return sorted(chosen, key=lambda c: (c.hit_index != best.hit_index, c.hit_index, c.position))

    def _in_context(self, chosen: list[Candidate], hits: list[Hit]) -> list[Candidate]:
        """A list item says nothing without the sentence that introduces its list, and can say
        the opposite ("(一)涉及婚姻、收养、继承等人身关系的;" is what 前款规定不适用下列文书: excludes):
        an item is quoted after its lead. A chosen lead ("可以通过下列途径解决:") says nothing
        by itself either: its first MAX_LIST_ITEMS items follow it. Items are shown with their
        numbering, and the last one shown ends the sentence."""
        shapes: dict[int, ListShape] = {}
        # (hit index, position in its ListShape) -> the sentence, in the order they are said
        out: dict[tuple[int, int], Candidate] = {}

        def add(hit_index: int, position: int, listed: bool = True) -> None:
            c = out.get((hit_index, position))
            if c is None:
                out[hit_index, position] = Candidate(hit_index, position, shapes[hit_index].sentences[position], listed=listed)
            else:  # a sentence chosen for itself that turns out to introduce a list chosen after it
                c.listed = c.listed or listed

        for c in chosen:
            shape = shapes.setdefault(c.hit_index, list_shape(hits[c.hit_index].chunk))
            i = shape.find(c.text, c.position)  # chosen sentences are the chunk's: always found
            lead = shape.leads[i]
            if lead is not None:
                for k in shape.lead_span(lead):
                    add(c.hit_index, k)
                # items between two chosen items of one list are shown too: "(一)…(三)…" reads as a gap
                shown_before = [k for k in shape.items(lead) if k < i and (c.hit_index, k) in out]
                if shown_before:
                    for k in range(shown_before[-1] + 1, i):
                        add(c.hit_index, k)
            items = shape.items(i)
            for k in shape.lead_span(i) if items else [i]:
                add(c.hit_index, k, listed=bool(items) or lead is not None)
            for k in items[:MAX_LIST_ITEMS]:
                add(c.hit_index, k)
            out[c.hit_index, i].score = max(out[c.hit_index, i].score, c.score)  # what `_brief` ranks by

        def lead_of(c: Candidate | None) -> tuple[int, int] | None:
            lead = shapes[c.hit_index].leads[c.position] if c is not None else None
            return None if lead is None else (c.hit_index, lead)

        # numbering back on items; a run of items that stops before its list does ends with "……"
        said = list(out.values())
        for j, c in enumerate(said):
            lead = lead_of(c)
            if lead is None:
                continue
            shape = shapes[c.hit_index]
            c.text = shape.labels[c.position] + c.text
            if lead_of(said[j + 1] if j + 1 < len(said) else None) != lead and _ITEM_END.search(c.text):
                more = any(k > c.position for k in shape.items(lead[1]))
                c.text = _ITEM_END.sub("……" if more else "。", c.text)
            c.listed = True
        return said

    def complaint_step(self, chunk: Chunk) -> str:
        """What the agent does first under the complaint procedure: the procedure's sentence
        nearest to COMPLAINT_QUERY. In the complaint procedure itself that is its first step
        ("先安抚情绪:…"); in a section that covers more ("1.客户咨询接待:… 3.客户投诉处理:接到投诉后,
        客服人员应立即安抚客户情绪…") it is the step about complaints, not the section's first."""
        steps = answer_sentences(chunk)
        if len(steps) <= 1:
            return steps[0] if steps else ""
        emb = self.sim.embed([COMPLAINT_QUERY, *steps])
        return steps[int((emb[1:] @ emb[0]).argmax())]

    def compose(self, question: str | Question, hits: list[Hit], *, procedure: int | None = None) -> Draft:
        """A draft reply. `procedure` is the index in `hits` of the complaint procedure, when
        the customer is complaining; the reply then opens by acknowledging their feelings."""
        q = self.question(question)
        ph = PHRASES[q.language]
        simplified = q.written_simplified
        answer_hits = [h for i, h in enumerate(hits) if i != procedure]
        index = [i for i in range(len(hits)) if i != procedure]
        cands = self.candidates(q, answer_hits)
        for c in cands:
            c.hit_index = index[c.hit_index]
        chosen = self._in_context(self.select(cands, hits), hits)

        def show(text: str) -> str:
            text = strip_markup(text)  # a source's raw HTML never reaches a reply (kb.text.markup)
            return to_simplified(text) if simplified else text

        pieces: list[Piece] = []
        if procedure is not None:
            pieces.append(Piece(ph["complaint"], own=True))
            step = self.complaint_step(hits[procedure].chunk)
            if step:  # the procedure is the agent's: guidance, not words for the customer (kb.answer.parts)
                pieces.append(Piece(ph["complaint_lead"], own=True, agent=True))
                pieces.append(Piece(marked(show(step), procedure + 1), agent=True))
        else:
            pieces.append(Piece(ph["greeting"], own=True))
        # an FAQ answer and the product section it summarises often state the same rule word for
        # word: such a sentence is said once, citing both sources
        # (a sentence that belongs to a quoted list is said where it stands, with its list)
        said: list[tuple[Candidate, list[int]]] = []
        for c in chosen:
            same = next(
                (g for g in said if not (c.listed or g[0].listed) and _same_sentence(_dup_key(g[0].text), _dup_key(c.text))),
                None,
            )
            if same is None:
                said.append((c, [c.hit_index + 1]))
            else:
                same[1].append(c.hit_index + 1)
        # a sentence that a longer one of the reply contains word for word adds nothing
        keys = [_dup_key(c.text) for c, _ in said]
        said = [g for g, k in zip(said, keys, strict=True) if g[0].listed or not any(k and k in o and k != o for o in keys)]
        said = _brief(said, hits)
        case_lead_done = False
        for c, numbers in said:
            case = hits[c.hit_index].chunk.meta.get("record") == "case"
            if case and not case_lead_done:
                pieces.append(Piece(ph["case_lead"], own=True, agent=True))
                case_lead_done = True
            agent = any(internal(hits[n - 1].chunk) for n in numbers)
            pieces.append(Piece(marked(show(c.text), *numbers), agent=agent))
        pieces.append(Piece(ph["closing"], own=True))
        return Draft(
            pieces=pieces,
            best_similarity=max(cands, key=lambda c: c.feature_score).dense if cands else 0.0,
            best_lexical=max((c.plain for c in cands), default=0.0),
            best_sentence={c.hit_index: c.text for c in reversed(cands)},
            best_score=cands[0].score if cands else 0.0,
        )


def _brief(said: list[tuple[Candidate, list[int]]], hits: list[Hit]) -> list[tuple[Candidate, list[int]]]:
    """The reply leads with its answer and adds at most a few supporting quotes. Of the sentences
    for the customer (a list's lead and its items count as one statement) the first one or two of the
    first source are kept, then at most MAX_SUPPORTING others: sources not yet quoted first, each
    best-scored first. A quote of a source not yet quoted joins when it alone is within SUPPORT_CHARS
    characters; a further sentence of a quoted source only while all supporting quotes are. All are
    said in their order. Whole articles are one click away in the sidebar; four verbatim articles bury
    the answer. Guidance for the agent is kept whole.

    Why other sources first: when the sentence that scored best comes from the wrong article, a
    second sentence of that article repeats the mistake, while the best sentence of the next source
    is often the right one (measured in docs/benchmarks.md: on the statute sets, ranking by score
    alone lost 13 of 398 right citations to the shorter replies; this order loses 1, at about the
    same reply length)."""
    statements: list[list[int]] = []  # indexes into `said`, one list per statement for the customer
    for k, (c, numbers) in enumerate(said):
        if any(internal(hits[n - 1].chunk) for n in numbers):
            continue
        prev = said[statements[-1][-1]][0] if statements else None
        if c.listed and prev is not None and prev.listed and prev.hit_index == c.hit_index:
            statements[-1].append(k)  # an item of the list being quoted goes with it
        else:
            statements.append([k])
    if len(statements) <= 1:
        return said
    # the answer: the first statement, and the next when its source says it too in one short sentence
    # (保证的方式包括一般保证和连带责任保证。 + 没有约定或者约定不明确的，按照一般保证承担保证责任。)
    first = said[statements[0][0]][0].hit_index
    second = said[statements[1][0]][0]
    lead = 2 if second.hit_index == first and len(statements[1]) == 1 and len(second.text) <= LEAD_CHARS else 1
    keep = {k for st in statements[:lead] for k in st}
    quoted = {said[k][0].hit_index for k in keep}

    def source(st: list[int]) -> int:
        return said[st[0]][0].hit_index

    chars, added = 0, 0
    # then the others: sources not yet quoted first, each best-scored first (a later sentence of the
    # first source still joins when there is room: 客户与商户协商期间仍应按时还款… after three on returns)
    ranked = sorted(statements[lead:], key=lambda st: (source(st) in quoted, -max(said[k][0].score for k in st)))
    for st in ranked:
        if added >= MAX_SUPPORTING:
            break
        size = sum(len(said[k][0].text) for k in st)
        new_source = source(st) not in quoted
        if size <= SUPPORT_CHARS if new_source else chars + size <= SUPPORT_CHARS:
            keep.update(st)
            chars += size
            added += 1
            quoted.add(source(st))
    statement_of = {k: n for n, st in enumerate(statements) for k in st}
    return [g for k, g in enumerate(said) if k not in statement_of or k in keep]


def marked(sentence: str, *numbers: int) -> str:
    marks = "".join(f"[{n}]" for n in numbers)
    m = re.search(r"[。！？!?.；;…]+[”’」』）)]*\s*$", sentence)
    if m:
        return f"{sentence[: m.start()]}{marks}{sentence[m.start():].rstrip()}"
    return f"{sentence}{marks}"


_NOT_WORD = re.compile(r"[\W_]+")


def _dup_key(sentence: str) -> str:
    return _NOT_WORD.sub("", to_simplified(sentence)).lower()


def _same_sentence(a: str, b: str) -> bool:
    """Whether two quoted sentences say the same: one contains the other and is at least 80% of
    its length ("X贷借款满3期后提前还款免收手续费…" and "借款满3期后提前还款免收手续费…")."""
    short, long_ = sorted((a, b), key=len)
    return bool(short) and short in long_ and len(short) >= 0.8 * len(long_)
