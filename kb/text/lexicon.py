"""The lay → legal lexicon: the words customers use mapped to the terms documents use.

Customers ask in everyday words (借钱, 担保人, 上征信, 盗刷); statutes and policies use legal terms
(借款, 保证人, 不良信息, 伪卡交易). A lexicon is a list of entries {lay: [phrases], legal: [terms]};
when a lay phrase occurs in a question (both compared after kb.text.norm.normalize, so Traditional
and full-width forms match too), the entry fires:

* `expansion_tokens`: the question's extra BM25 tokens (kb.search.retriever adds their score at a
  lower weight; the question itself is never changed);
* `alternatives`: for each of the question's tokens, the tokens that may stand for it in a source
  (kb.answer.composer counts a sentence's share of the question with them).

Lexicons come from bundles (`lexicon.yaml`, kb/bundles.py); the entries of every loaded bundle are
used together.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from kb.bundles import Bundle
from kb.errors import ConfigError
from kb.text.norm import normalize, tokenize

LEXICON_FILE = "lexicon.yaml"
Entry = tuple[tuple[str, ...], tuple[str, ...]]  # (normalised lay phrases, legal terms)


def load_entries(path: Path) -> list[Entry]:
    """The entries of one lexicon file; a ConfigError names the file and the bad entry (every entry
    needs non-empty string lists `lay` and `legal`)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"lexicon {path}: cannot be read ({exc})") from exc
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"lexicon {path}: expected `entries:`, a list of {{lay: [...], legal: [...]}}")
    out = []
    for i, entry in enumerate(entries):
        lay, legal = (entry or {}).get("lay"), (entry or {}).get("legal")
        ok = all(isinstance(v, list) and v and all(isinstance(t, str) and t.strip() for t in v) for v in (lay, legal))
        if not ok:
            raise ConfigError(f"lexicon {path}: entry {i} needs non-empty string lists 'lay' and 'legal': {entry!r}")
        out.append((tuple(normalize(t.strip()) for t in lay), tuple(t.strip() for t in legal)))
    return out


_ASCII = re.compile(r"^[\x00-\x7f]+$")


def _occurs(phrase: str, normalised_query: str) -> bool:
    """A Chinese phrase occurs anywhere; a phrase in plain ASCII (an English word) only as whole
    words, so that "fee" is not found in "coffee"."""
    if _ASCII.match(phrase):
        return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", normalised_query) is not None
    return phrase in normalised_query


@dataclass(frozen=True)
class Lexicon:
    entries: tuple[Entry, ...] = ()

    def matched(self, query: str) -> list[tuple[list[str], tuple[str, ...]]]:
        """(lay phrases found in the query, legal terms) of every entry that fires."""
        q = normalize(query)
        out = []
        for lay, legal in self.entries:
            found = [p for p in lay if _occurs(p, q)]
            if found:
                out.append((found, legal))
        return out

    def expansion_terms(self, query: str) -> list[str]:
        """Legal terms of every entry one of whose lay phrases occurs in the query."""
        return list(dict.fromkeys(t for _, legal in self.matched(query) for t in legal))

    def alternatives(self, query: str, tokens: Iterable[str] | None = None) -> dict[str, set[str]]:
        """Each search token of the query with the tokens that may stand for it in a source:
        itself, and the tokens of the terms of every entry whose found phrase contains it."""
        out = {t: {t} for t in (tokenize(query) if tokens is None else tokens)}
        for found, legal in self.matched(query):
            legal_tokens = {t for t in tokenize(" ".join(legal)) if len(t) > 1}
            for phrase in found:
                for t in tokenize(phrase):
                    if t in out:
                        out[t] |= legal_tokens
        return out

    def expansion_tokens(self, query: str, query_tokens: Iterable[str] | None = None) -> list[str]:
        """Search tokens (two characters or more) of the expansion terms that the query's own
        tokens do not already contain."""
        have = set(tokenize(query) if query_tokens is None else query_tokens)
        terms = self.expansion_terms(query)
        toks = tokenize(" ".join(terms)) if terms else []
        return [t for t in dict.fromkeys(toks) if len(t) > 1 and t not in have]


@lru_cache(maxsize=16)
def _lexicon(files: tuple[tuple[str, int], ...]) -> Lexicon:
    return Lexicon(tuple(e for path, _ in files for e in load_entries(Path(path))))


def load_lexicon(bundles: Iterable[Bundle]) -> Lexicon:
    """The entries of every bundle's lexicon.yaml, in bundle order (read again when a file changes)."""
    files = [b.part(LEXICON_FILE) for b in bundles]
    return _lexicon(tuple((str(p), p.stat().st_mtime_ns) for p in files if p is not None))
