"""Question guards: what kind of question this is, decided before any document is searched.

Personal numbers are masked (kb.text.pii) before a guard sees the question. The guards decide
whether the customer is complaining (the reply acknowledges their feelings and quotes the
complaint procedure), asks for one customer's account data (answered with "check the business
system"), asks about the company's own practice (a reply from statutes alone is withheld) or asks
a legal question outside consumer credit (withheld). The patterns are data: the rules/guards.yaml
of every loaded bundle (kb/bundles.py; the `credit_cs` bundle ships the defaults and documents the
format), matched on the normalised question (NFKC, Simplified, lower case, standard Chinese).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from kb.answer.rulefiles import any_of, compile_patterns, read_yaml
from kb.bundles import Bundle
from kb.errors import ConfigError
from kb.text.norm import normalize, standard_chinese

GUARDS_FILE = "rules/guards.yaml"  # in a bundle
LISTS = ("account_lookup", "company_practice", "out_of_scope", "in_scope", "market_quote")


@dataclass(frozen=True)
class Guards:
    complaint: dict[str, re.Pattern] = field(default_factory=dict)  # kind of signal -> its patterns
    account_lookup: re.Pattern | None = None
    company_practice: re.Pattern | None = None
    out_of_scope: re.Pattern | None = None
    in_scope: re.Pattern | None = None  # an out-of-scope question that also matches these speaks of credit
    market_quote: re.Pattern | None = None  # out of scope even when it speaks of credit

    def complaint_signals(self, text: str) -> list[str]:
        """The kinds of complaint signal in the text (empty when none)."""
        norm = normalize(text)
        return [kind for kind, rx in self.complaint.items() if rx.search(norm)]

    def account_request(self, text: str) -> str | None:
        """The phrase that asks for one customer's account data (None when the question does not)."""
        return _found(self.account_lookup, text)

    def company_practice_phrase(self, text: str) -> str | None:
        """The phrase that asks about the company's own practice (None when the question does not)."""
        return _found(self.company_practice, text)

    def market_quote_phrase(self, text: str) -> str | None:
        """The phrase asking what a market price or rate is (out of scope whatever the documents say)."""
        return _found(self.market_quote, text)

    def out_of_scope_phrase(self, text: str) -> str | None:
        """The phrase that puts the question outside consumer credit (None when it is in scope)."""
        quote = _found(self.market_quote, text)
        if quote is not None:
            return quote
        phrase = _found(self.out_of_scope, text)
        if phrase is None or _found(self.in_scope, text) is not None:
            return None
        return phrase


def _found(rx: re.Pattern | None, text: str) -> str | None:
    if rx is None:
        return None
    m = rx.search(normalize(standard_chinese(text)))
    return m.group(0) if m else None


@lru_cache(maxsize=16)
def _read(path: str, mtime: float) -> dict[str, tuple[re.Pattern, ...] | dict[str, tuple[re.Pattern, ...]]]:
    data = read_yaml(Path(path), "guard rules") or {}
    where = f"guard rules {Path(path).parent.parent.name}/{GUARDS_FILE}"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of guard names to patterns")
    unknown = set(data) - {"complaint", *LISTS}
    if unknown:
        raise ConfigError(f"{where}: unknown guards {sorted(unknown)}; known: complaint, {', '.join(LISTS)}")
    out: dict = {name: compile_patterns(data[name], f"{where} {name}") for name in LISTS if name in data}
    complaint = data.get("complaint") or {}
    if not isinstance(complaint, dict):
        raise ConfigError(f"{where} complaint: expected a mapping of signal kinds to patterns")
    out["complaint"] = {str(k): compile_patterns(v, f"{where} complaint {k}") for k, v in complaint.items()}
    return out


def load_guards(bundles: tuple[Bundle, ...]) -> Guards:
    """The guards of every bundle's rules/guards.yaml, the lists of all bundles used together."""
    lists: dict[str, list[re.Pattern]] = {name: [] for name in LISTS}
    complaint: dict[str, list[re.Pattern]] = {}
    for bundle in bundles:
        path = bundle.part(GUARDS_FILE)
        if path is None:
            continue
        parsed = _read(str(path), path.stat().st_mtime)
        for name in LISTS:
            lists[name] += parsed.get(name, ())
        for kind, patterns in parsed["complaint"].items():
            complaint.setdefault(kind, []).extend(patterns)
    return Guards(
        complaint={kind: any_of(tuple(ps)) for kind, ps in complaint.items()},
        **{name: any_of(tuple(ps)) for name, ps in lists.items()},
    )
