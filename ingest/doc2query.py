"""Questions generated for each section of a document (doc2query), added as question keys marked
`generated:<model>` (kb.index.added_keys) — for a company whose documents come without FAQs.

A configured LLM (CITEDESK_LLM_BASE_URL/_MODEL, reached through llama-index as the LLM composer
reaches it) reads one chunk at a time, personal numbers already masked at ingest, and writes the
questions a customer would ask that the passage answers. Each becomes a key of that chunk, shown to
trainers with its origin and removable like any other (`citedesk question-keys remove generated:<model>`).
A chunk the model fails on is skipped and counted; nothing is half-added for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kb.errors import LLMError
from kb.index.added_keys import MAX_CHARS
from kb.types import Chunk

PROMPT = (
    "下面是一段客服知识库的资料。请写出{n}个客户可能会问、而这段资料能回答的问题，用客户的口语，"
    "每行一个，不要编号，不要回答。If the passage is in English, write the questions in English."
)
_NUMBERING = re.compile(r"^\s*(?:[-*•]|\d+[.、)）]|[（(]\d+[)）]|Q\d*[:：])\s*")


def parse_questions(text: str, n: int) -> list[str]:
    """The model's lines as questions: numbering and bullets dropped, empty or overlong lines skipped."""
    out = []
    for line in text.splitlines():
        q = _NUMBERING.sub("", line).strip().strip('"“”')
        if q and len(q) <= MAX_CHARS and q not in out:
            out.append(q)
    return out[:n]


def questions_for(llm: Any, chunk: Chunk, title: str, n: int = 3) -> list[str]:
    """Up to n questions for one chunk (raises LLMError when the model fails)."""
    head = " ".join(p for p in (title, chunk.section) if p)
    messages = [{"role": "system", "content": PROMPT.format(n=n)},
                {"role": "user", "content": f"{head}\n{chunk.text}"}]
    return parse_questions(llm.complete(messages), n)


def generate_keys(kb: Any, llm: Any, n: int = 3, doc_ids: list[str] | None = None,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Generated keys for every chunk of the documents (all by default) that has none yet."""
    from kb.keys import add_keys, list_keys

    origin = f"generated:{getattr(llm, 'model', None) or 'llm'}"
    done = {k.chunk_id for k in list_keys(kb, origin)}
    docs = [d for d in kb.documents() if doc_ids is None or d.doc_id in doc_ids]
    counts = {"chunks": 0, "keys_added": 0, "failed": 0}
    for i, info in enumerate(docs):
        items = []
        for chunk in kb.chunks_of(info.doc_id):
            if chunk.chunk_id in done:
                continue
            counts["chunks"] += 1
            try:
                items += [(chunk.chunk_id, q, origin) for q in questions_for(llm, chunk, info.title, n)]
            except LLMError:
                counts["failed"] += 1
        if items:
            counts["keys_added"] += len(add_keys(kb, items, by=origin))
        if progress:
            progress(i + 1, len(docs))
    return counts
