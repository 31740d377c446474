"""The lay → legal lexicon (query_terms.yaml): the words customers use mapped to the terms documents use.

`expansion_tokens` gives a question's extra BM25 tokens (kb.search.retriever adds their score at a lower
weight); `term_alternatives` gives, for each of its tokens, the tokens that may stand for it in a source
(kb.answer.composer counts a sentence's share of the question with them).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from pathlib import Path

import yaml

from kb.text.norm import normalize, tokenize

# -- query expansion: lay → legal vocabulary --------------------------------------------------

QUERY_TERMS_PATH = Path(__file__).with_name("query_terms.yaml")

log = logging.getLogger(__name__)


def load_query_terms(path: Path = QUERY_TERMS_PATH) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The lay → legal lexicon as [(normalised lay phrases, legal terms)]; raises ValueError on a
    malformed entry (every entry needs non-empty string lists `lay` and `legal`)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    out = []
    for i, entry in enumerate(data.get("entries") or []):
        lay, legal = (entry or {}).get("lay"), (entry or {}).get("legal")
        ok = all(
            isinstance(v, list) and v and all(isinstance(t, str) and t.strip() for t in v) for v in (lay, legal)
        )
        if not ok:
            raise ValueError(f"{path}: entry {i} needs non-empty string lists 'lay' and 'legal': {entry!r}")
        out.append((tuple(normalize(t.strip()) for t in lay), tuple(t.strip() for t in legal)))
    return out


@lru_cache(maxsize=1)
def _query_terms() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    try:
        return load_query_terms()
    except (OSError, ValueError, yaml.YAMLError) as exc:  # retrieval still works, unexpanded
        log.warning("query expansion lexicon unusable (%s); searching without it", exc)
        return []


_ASCII = re.compile(r"^[\x00-\x7f]+$")


def _occurs(phrase: str, normalised_query: str) -> bool:
    """A Chinese phrase occurs anywhere; a phrase in plain ASCII (an English word) only as whole
    words, so that "fee" is not found in "coffee"."""
    if _ASCII.match(phrase):
        return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", normalised_query) is not None
    return phrase in normalised_query


def _matched_entries(query: str) -> list[tuple[list[str], tuple[str, ...]]]:
    """(lay phrases found in the query, legal terms) of every lexicon entry that fires."""
    q = normalize(query)
    out = []
    for lay, legal in _query_terms():
        found = [p for p in lay if _occurs(p, q)]
        if found:
            out.append((found, legal))
    return out


def expansion_terms(query: str) -> list[str]:
    """Legal terms of every lexicon entry one of whose lay phrases occurs in the query."""
    return list(dict.fromkeys(t for _, legal in _matched_entries(query) for t in legal))


def term_alternatives(query: str) -> dict[str, set[str]]:
    """Each search token of the query with the tokens that may stand for it in a source: itself,
    and the tokens of the terms of every lexicon entry whose found phrase contains it. How much of
    an English question a Chinese sentence covers is measured with these (kb.answer.composer)."""
    out = {t: {t} for t in tokenize(query)}
    for found, legal in _matched_entries(query):
        legal_tokens = {t for t in tokenize(" ".join(legal)) if len(t) > 1}
        for phrase in found:
            for t in tokenize(phrase):
                if t in out:
                    out[t] |= legal_tokens
    return out


def expansion_tokens(query: str, query_tokens: list[str] | None = None) -> list[str]:
    """Search tokens (two characters or more) of the expansion terms that the query's own tokens
    do not already contain."""
    have = set(tokenize(query) if query_tokens is None else query_tokens)
    terms = expansion_terms(query)
    toks = tokenize(" ".join(terms)) if terms else []
    return [t for t in dict.fromkeys(toks) if len(t) > 1 and t not in have]
