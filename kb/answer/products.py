"""Products: which are in force, which a question names, and a reply that names each one.

Rates, fees and terms differ from product to product. A reply that quotes one product's fee and
then another's without naming them reads as two contradicting rules, and a reply that quotes three
products' rates leaves the customer of the fourth without one. So:

- the question names a product (its name, or the name without the product type the names share:
  随心 for 随心贷 beside 车主贷 and 薪享贷): the reply quotes that product's documents and no other's;
- the question names a product the knowledge base does not have (a word shaped like the names,
  安心分期 beside 乐享分期, whose first part the knowledge base never uses): it is not answered with
  another product's rules;
- the question names none and the reply would quote two products' rules: the reply gives one line
  for each product in force, or, when some product has no rule on it, asks which product the
  customer holds (the lines found go to the agent's guidance).

Product names come from the documents: the `product` of each product document in force (its title
when it has none). Nothing here knows a particular product.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from kb.answer.composer import SECOND_SOURCE_MARGIN, ExtractiveComposer, marked
from kb.answer.parts import internal
from kb.answer.verify import Piece
from kb.text.norm import tokenize
from kb.text.question import Question
from kb.text.sentences import markers_in
from kb.types import Hit

# a product's line joins when its best sentence scores no more than this below the best (the
# composer's margin for a second source, and a little more: a product's sentences searched on their
# own get the full relevance prior of kb.answer.composer, its RELEVANCE_WEIGHT, which is 0.1 at most)
LINE_MARGIN = SECOND_SOURCE_MARGIN + 0.02
_CJK = "\u4e00-\u9fff"
# 贷 followed by 款 is the word 贷款 (a loan), not the end of a product's name
_GENERIC_AFTER = {"贷": "款"}

ASK = {
    "zh": "不同产品的规定不同，请问您办理的是哪款产品？",
    "en": "The rules differ from product to product: which product do you hold?",
}
DIFFER = {"zh": "不同产品的规定不同：", "en": "The rules differ from product to product:"}
CHECK = {
    "zh": "客户未说明产品：如不确定客户办理的产品，请先询问“您办理的是哪款产品？”，再按该产品的规定答复。",
    "en": "The customer named no product: if unsure which one they hold, ask \"Which product do you hold?\" "
          "and answer by that product's rules.",
}
UNKNOWN = {
    "zh": "知识库中没有“{p}”的资料：请勿按其他产品的规定答复，请核实客户办理的产品，或升级处理。",
    "en": "The knowledge base has nothing on \"{p}\": do not answer by another product's rules; check which product "
          "the customer holds, or escalate.",
}
ONE_PRODUCT = {
    "zh": "答复引用的是{p}的规定；客户办理的如是其他产品，请先询问“您办理的是哪款产品？”。",
    "en": "The reply quotes the rules of {p}; if the customer holds another product, ask which one first.",
}


def product_of(hit: Hit) -> str:
    return str(hit.chunk.meta.get("product") or "").strip()


def _shared_suffix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return a[len(a) - n:]


def product_types(names: Iterable[str]) -> dict[str, str]:
    """Each name's product type: the longest ending it shares with another name (贷 of 随心贷 and
    车主贷), else its last two characters (分期 of 乐享分期)."""
    names = list(names)
    out = {}
    for name in names:
        shared = max((_shared_suffix(name, o) for o in names if o != name), key=len, default="")
        out[name] = shared if shared and len(shared) < len(name) else name[-2:]
    return out


def named(text: str, names: list[str]) -> list[str]:
    """The products in force the text names: the whole name, or the name without its product type
    when that leaves two characters or more (随心 in "随心带能分36期吗")."""
    whole = [n for n in names if n and n in text]
    if whole:
        return whole
    types = product_types(names)
    found = []
    for n in names:
        head = n[: len(n) - len(types[n])]
        if len(head) >= 2 and head in text:
            found.append(n)
    return found


def unknown(text: str, names: list[str], knows: Callable[[str], bool]) -> str | None:
    """A product name the knowledge base does not have: a word of two characters before one of the
    products' types (安心分期 where the products are 乐享分期, 随心贷, …), a word the knowledge base
    never uses (`knows`: the lexical index's vocabulary); the two characters must be a word of the
    text (银行放贷 is 银行 / 放贷, not a product 行放贷). A known product's name is not unknown."""
    if not names or named(text, names):
        return None
    words = set(tokenize(text))
    for kind in sorted(set(product_types(names).values()), key=len, reverse=True):
        after = _GENERIC_AFTER.get(kind[-1], "")
        pattern = f"([{_CJK}]{{2}}){re.escape(kind)}" + (f"(?!{after})" if after else "")
        for m in re.finditer(pattern, text):
            if (m.group(1) in words or m.group(0) in words) and not knows(m.group(1)):
                return m.group(0)
    return None


def quoted_products(pieces: list[Piece], hits: list[Hit]) -> list[str]:
    """The products whose documents the draft's sentences for the customer cite, in order (a past
    case about one product is the agent's, not a rule of it)."""
    found: list[str] = []
    for p in pieces:
        if p.own or p.agent:
            continue
        for n in markers_in(p.text):
            name = product_of(hits[n - 1]) if 1 <= n <= len(hits) else ""
            if name and name not in found:
                found.append(name)
    return found


def best_lines(
    question: Question, hits: list[Hit], names: list[str], composer: ExtractiveComposer,
    search: Callable[[str], list[Hit]], draft_best: float,
) -> tuple[list[Hit], dict[str, tuple[int, str]]]:
    """Each product's best sentence for the question: among the hits of its documents, else among
    those of a search restricted to it (added to the hits). A product whose best sentence shares no
    word with the question, or scores LINE_MARGIN below the best product's or the draft's best
    sentence (`draft_best`), has no line."""
    hits = list(hits)
    best: dict[str, tuple[int, str, float]] = {}
    for name in names:
        # a rule of the product: from a document for customers (a past case is no rule)
        own = [i for i, h in enumerate(hits) if product_of(h) == name and not internal(h.chunk)]
        if not own:
            known = {h.chunk.chunk_id for h in hits}
            extra = [h for h in search(name) if h.chunk.chunk_id not in known and not internal(h.chunk)]
            own = list(range(len(hits), len(hits) + len(extra)))
            hits.extend(extra)
        cands = [c for c in composer.candidates(question, [hits[i] for i in own], answer_hits=len(own)) if c.shares_word]
        if cands:
            best[name] = (own[cands[0].hit_index], cands[0].text, cands[0].score)
    top = max([s for _, _, s in best.values()] + [draft_best])
    return hits, {n: (i, text) for n, (i, text, s) in best.items() if s >= top - LINE_MARGIN}


def lines_pieces(
    question: Question, hits: list[Hit], names: list[str], lines: dict[str, tuple[int, str]], draft: list[Piece],
    show: Callable[[str], str],
) -> list[Piece]:
    """The draft again with one line per product: in the reply when every product in force has one,
    else in the agent's guidance beside a reply that asks which product the customer holds. The
    draft's guidance (a procedure's step) is kept; its other quoted sentences give way to the lines."""
    lang = question.language if question.language in ASK else "en"
    every = all(n in lines for n in names)
    head = [p for p in draft if p.own and not p.agent][:1]  # the greeting or a complaint's acknowledgement
    closing = [p for p in draft if p.own and not p.agent][-1:]
    guidance = [p for p in draft if p.agent]
    out = [*head, Piece(DIFFER[lang] if every else ASK[lang], own=True)]
    for name in names:
        if name in lines:
            i, text = lines[name]
            out.append(Piece(marked(show(text), i + 1), agent=not every))
    return [*out, *guidance, Piece(CHECK[lang], own=True, agent=True), *closing]


def one_product_note(question: Question, name: str) -> Piece:
    lang = question.language if question.language in ONE_PRODUCT else "en"
    return Piece(ONE_PRODUCT[lang].format(p=name), own=True, agent=True)
