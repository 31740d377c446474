"""An answer in two parts: the reply to the customer and the guidance for the agent.

The reply is what may be sent as it is: sentences quoted from documents written for customers
(product terms, FAQ answers, statutes) with CiteDesk's greeting and closing. The guidance is what
the agent reads and does not send: procedure steps, internal rules, past cases, what to check.
Documents of an internal kind (INTERNAL_KINDS) feed only the guidance, whichever composer wrote
the sentence: a sentence citing one of them is guidance. Both parts are cited, with one numbering
(the reply's sources first).

When a product-specific rule is quoted for a question that names no product, each such line is
labelled with its product (kb.answer.products), on a line of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from kb.answer.verify import Checked, finalize_parts, join_sentences
from kb.types import Chunk, Citation, Hit

# a procedure is how the company's staff work, a case is another customer's record: neither is
# worded for the customer
INTERNAL_KINDS = frozenset({"procedure", "case"})
LABELS = {"zh": "坐席指引：", "en": "For the agent:"}


def internal(chunk: Chunk) -> bool:
    return chunk.kind in INTERNAL_KINDS or chunk.meta.get("record") == "case"


def mark_guidance(kept: list[Checked], hits: list[Hit]) -> None:
    """A quoted sentence that cites an internal document is guidance for the agent."""
    for c in kept:
        if not c.own and any(internal(hits[i].chunk) for i in c.cited):
            c.agent = True


@dataclass
class Parts:
    text: str  # the whole answer: reply, then the guidance under its label
    reply: str
    guidance: list[str]
    citations: list[Citation]


def product_of(c: Checked, hits: list[Hit]) -> str | None:
    """The one product whose rules the sentence quotes, if its sources name one."""
    names = {str(hits[i].chunk.meta.get("product") or "") for i in c.cited} - {""}
    return names.pop() if len(names) == 1 else None


def split(kept: list[Checked], hits: list[Hit], language: str, *, label_products: bool = False,
          keep_reply: bool = False) -> Parts:
    """The reply and the guidance of verified sentences. A reply without a quoted sentence is
    only a greeting and a closing: nothing to send (""), unless `keep_reply` (a complaint's
    acknowledgement is worth sending). With `label_products`, a reply sentence quoting one
    product's rules starts a line with the product's name (unless it already names it)."""
    mark_guidance(kept, hits)
    reply_kept = [c for c in kept if not c.agent]
    guide_kept = [c for c in kept if c.agent]
    parts, citations = finalize_parts(reply_kept + guide_kept, hits)
    reply_parts, guide_parts = parts[: len(reply_kept)], parts[len(reply_kept):]
    sep = "" if language == "zh" else " "
    colon = "：" if language == "zh" else ": "
    if label_products:
        labelled, previous = [], None
        for c, p in zip(reply_kept, reply_parts, strict=True):
            name = None if c.own else product_of(c, hits)
            if name and name != previous:  # a product's first sentence starts its line
                p = f"\n{name}{colon}{p}" if name not in c.text else f"\n{p}"
            elif previous and c.own:  # the closing after the products' lines
                p = "\n" + p
            labelled.append(p)
            previous = name
        reply_parts = labelled
    quoted = any(not c.own for c in reply_kept)
    reply = _join(reply_parts) if quoted or keep_reply else ""
    # an own lead ("按照我们的投诉处理流程：") is one item with the step it introduces
    guidance: list[str] = []
    lead = ""
    for c, p in zip(guide_kept, guide_parts, strict=True):
        name = product_of(c, hits) if label_products and not c.own and not lead else None
        if name and name not in c.text:
            p = f"{name}{colon}{p}"
        if c.own and p.rstrip().endswith((":", "：")):
            lead = p + ("" if language == "zh" else " ")
            continue
        guidance.append(lead + p)
        lead = ""
    text = reply
    if guidance:
        text = (reply + "\n" if reply else "") + LABELS.get(language, LABELS["en"]) + sep + sep.join(guidance)
    return Parts(text.strip(), reply, guidance, citations)


def _join(parts: list[str]) -> str:
    """Sentences joined as finalize joins them; a part starting with a newline starts a line."""
    lines: list[list[str]] = [[]]
    for p in parts:
        if p.startswith("\n"):
            lines.append([p[1:]])
        else:
            lines[-1].append(p)
    return "\n".join(join_sentences(line) for line in lines if line).strip()
