"""A complaint record drafted from a conversation, for the agent to edit and save.

From the customer's words (already masked when the conversation was stored): the topic by the
complaint rules (kb.records.routing), the product (the one asked about, else a product of the
knowledge base named in the text), what happened and what the customer asks for (the sentences
that ask for something: 要求/希望/退还/赔偿/道歉/…), the complaint signals (the guards of the
loaded bundles, kb.answer.guards),
the amount in dispute, and the complaint procedure's step for the agent, quoted from the knowledge
base with its source. The department and deadlines the rules would give are shown with it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from kb.answer.composer import COMPLAINT_QUERY
from kb.errors import ValidationError
from kb.records.routing import ComplaintRules
from kb.text.norm import normalize
from kb.text.numbers import extract_numbers
from kb.text.pii import mask_pii
from kb.text.sentences import split_sentences
from kb.types import SearchFilters

_REQUEST = re.compile(
    r"要求|希望|请(你们|贵公司|尽快|马上|立即)|给(我|个)[^，。]{0,4}(说法|解释|交代)|退(还|回|款|钱|给我)|赔偿|补偿|道歉|"
    r"删除|撤销|消除|减免|免除|取消|还我|恢复|停止|别再|不要再|\bi (want|demand|ask)\b|\bplease\b|\brefund\b|"
    r"\bcompensat|\bapolog|\bremove\b|\bstop\b",
    re.IGNORECASE,
)
_AMOUNT = re.compile(r"([0-9][0-9,]*(?:\.[0-9]+)?\s*[万千]?|[零〇一二两三四五六七八九十百千万亿]+)\s*(元|块钱|块|yuan|rmb)",
                     re.IGNORECASE)


def split_request(text: str) -> tuple[str, str]:
    """(what happened, what the customer asks for): the clauses asking for something (要求退还…,
    希望…, 道歉) go to the request, the rest is the account of what happened (all of it when
    nothing else is said)."""
    clauses = [c for s in split_sentences(text) for c in re.split(r"(?<=[，,；;])", s.strip()) if c.strip()]
    asks = [c for c in clauses if _REQUEST.search(normalize(c))]
    told = [c for c in clauses if c not in asks]

    sep = "" if re.search(r"[\u4e00-\u9fff]", text) else " "

    def joined(parts: list[str]) -> str:
        out = re.sub(r"\s{2,}", " ", sep.join(parts)).strip().rstrip("，,；;")
        return out + "。" if out and re.search(r"[\u4e00-\u9fff]$", out) else out

    return joined(told or clauses), joined(asks)


def amount_in(text: str) -> float | None:
    """The largest sum of money the text names (元/块), or None."""
    values = []
    for m in _AMOUNT.finditer(normalize(text)):
        nums = extract_numbers(m.group(1).replace(" ", ""))
        if nums and not nums[0].percent:
            values.append(nums[0].value)
    return max(values) if values else None


def product_in(text: str, products: list[str]) -> str | None:
    norm = normalize(text)
    found = [p for p in products if p and normalize(p) in norm]
    return max(found, key=len) if found else None


def procedure_step(answerer: Any, citations: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """The complaint procedure's step for the agent: the reply's own quote of the complaint
    procedure when it cited one, else the procedure found in the knowledge base."""
    for c in citations or []:
        if "投诉" in normalize(c.get("title") or "") and c.get("quote"):
            return c["quote"], {k: c.get(k) for k in ("doc_id", "chunk_id", "title", "section")}
    try:
        found = answerer.kb.search(COMPLAINT_QUERY, k=1, filters=SearchFilters(kind="procedure"))
    except ValidationError:
        return None, {}
    if not found or "投诉" not in normalize(found[0].chunk.text):
        return None, {}
    chunk = found[0].chunk
    step = answerer.extractive.complaint_step(chunk)
    return step or None, {"doc_id": chunk.doc_id, "chunk_id": chunk.chunk_id, "title": chunk.title,
                          "section": chunk.section}


def draft_complaint(text: str, rules: ComplaintRules, answerer: Any, *, product: str | None = None,
                    products: list[str] | None = None, citations: list[dict[str, Any]] | None = None,
                    now: datetime) -> dict[str, Any]:
    """The draft record for the complaint form (nothing is stored here)."""
    text = mask_pii(text or "").text.strip()
    if not text:
        raise ValidationError("there is nothing in the conversation to draft a complaint from")
    narrative, request = split_request(text)
    product = product or product_in(text, products or [])
    signals = [s for s in answerer.guards.complaint_signals(text) if s != "complaint"]
    amount = amount_in(text)
    topic = rules.topic_of(text, product)
    routing = rules.route(topic, product, text, signals, amount)
    step, source = procedure_step(answerer, citations or [])
    return {
        "topic": topic, "topics": rules.topics, "product": product, "narrative": narrative, "request": request,
        "signals": signals, "amount": amount, "escalated": routing.escalated, "department": routing.department,
        "procedure_step": step, "procedure_source": source,
        "timezone": rules.spec.timezone,  # the deadlines are read in the company's time zone
        "response_due": rules.response_due(now, routing).isoformat(),
        "resolve_due": rules.resolve_due(now, routing.resolve_working_days).isoformat(),
    }
