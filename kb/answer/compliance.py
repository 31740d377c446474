"""Compliance rules for suggested replies: forbidden promises are removed, missing disclosures are
flagged. Rules come from a bundle's rules/compliance.yaml (the `credit_cs` bundle ships the default
set; its header documents the format), or from one file named by CITEDESK_COMPLIANCE_RULES."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kb.answer.rulefiles import compile_patterns, read_yaml
from kb.bundles import Bundle
from kb.errors import ConfigError
from kb.text.norm import normalize

COMPLIANCE_FILE = "rules/compliance.yaml"  # in a bundle
RULE_TYPES = ("forbidden_phrase", "required_disclosure")
# A forbidden phrase after one of these (same clause) is the rule being stated, not broken.
_NEGATION = re.compile(
    r"(严禁|禁止|不得|不能|不可|不应|不要|切勿|杜绝|避免|不允许|不准|never|must not|do not|don't|shall not|may not|cannot)[^，。；,;.!?！？]*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ComplianceRule:
    id: str
    type: str
    patterns: tuple[re.Pattern, ...]
    message: str
    when: tuple[re.Pattern, ...] = ()

    def forbidden_match(self, sentence: str) -> str | None:
        """The forbidden phrase the sentence states (not merely forbids), or None."""
        norm = normalize(sentence)
        for rx in self.patterns:
            for m in rx.finditer(norm):
                if not _NEGATION.search(norm[: m.start()]):
                    return m.group(0)
        return None

    def disclosure_missing(self, sentences: list[str]) -> bool:
        """A triggering sentence without the disclosure (in that sentence or elsewhere in the reply)."""
        norm = [normalize(s) for s in sentences]
        triggered = any(rx.search(s) for s in norm for rx in self.when)
        if not triggered:
            return False
        whole = " ".join(norm)
        return not any(rx.search(whole) for rx in self.patterns)


@dataclass
class ComplianceResult:
    kept: list[int]  # indexes of sentences kept
    removed: list[tuple[int, str]]  # (index, rule id) of sentences removed
    violations: list[str]  # rule ids violated, in rule order
    messages: list[str]


def parse_rules(data, source: str = "compliance rules") -> list[ComplianceRule]:
    """Rules from parsed YAML; a ConfigError names the rule and the problem."""
    if isinstance(data, dict) and "rules" in data:
        data = data["rules"]
    if not isinstance(data, list):
        raise ConfigError(f"{source}: expected a list of rules, got {type(data).__name__}")
    rules: list[ComplianceRule] = []
    seen: set[str] = set()
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise ConfigError(f"{source}: rule #{i} is not a mapping")
        rid = item.get("id")
        if not isinstance(rid, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", rid or ""):
            raise ConfigError(f"{source}: rule #{i} needs an id of letters, digits, _ . - (got {rid!r})")
        where = f"{source}: rule {rid!r}"
        if rid in seen:
            raise ConfigError(f"{where}: duplicate id")
        seen.add(rid)
        unknown = set(item) - {"id", "type", "patterns", "message", "when"}
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
        rtype = item.get("type")
        if rtype not in RULE_TYPES:
            raise ConfigError(f"{where}: type must be one of {', '.join(RULE_TYPES)} (got {rtype!r})")
        message = item.get("message")
        if not isinstance(message, str) or not message.strip():
            raise ConfigError(f"{where}: needs a message")
        patterns = compile_patterns(item.get("patterns"), f"{where} patterns")
        when: tuple[re.Pattern, ...] = ()
        if rtype == "required_disclosure":
            when = compile_patterns(item.get("when"), f"{where} when")
        elif "when" in item:
            raise ConfigError(f"{where}: 'when' only applies to required_disclosure rules")
        rules.append(ComplianceRule(rid, rtype, patterns, message.strip(), when))
    return rules


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> tuple[ComplianceRule, ...]:
    return tuple(parse_rules(read_yaml(Path(path), "compliance rules"), f"compliance rules {Path(path).name}"))


def _rules_of(path: Path) -> list[ComplianceRule]:
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise ConfigError(f"compliance rules file not found: {path}") from exc
    return list(_load(str(path), mtime))


def load_rules(path: Path | str | None = None, bundles: tuple[Bundle, ...] = ()) -> list[ComplianceRule]:
    """The rules in `path` when given (CITEDESK_COMPLIANCE_RULES), else those of every bundle's
    rules/compliance.yaml. Cached until a file changes; an id used by two bundles is an error."""
    if path:
        return _rules_of(Path(path))
    rules: list[ComplianceRule] = []
    for bundle in bundles:
        found = bundle.part(COMPLIANCE_FILE)
        if found is None:
            continue
        for rule in _rules_of(found):
            if any(r.id == rule.id for r in rules):
                raise ConfigError(f"compliance rule {rule.id!r} is defined by two bundles (the second: {bundle.name})")
            rules.append(rule)
    return rules


def check_compliance(sentences: list[str], rules: list[ComplianceRule], exempt: set[int] | None = None) -> ComplianceResult:
    """Apply the rules to a reply given as sentences. Sentences in `exempt` (written by
    CiteDesk itself) are not removed, but still count for disclosures."""
    exempt = exempt or set()
    removed: list[tuple[int, str]] = []
    violations: list[str] = []
    messages: list[str] = []
    for rule in rules:
        if rule.type != "forbidden_phrase":
            continue
        for i, s in enumerate(sentences):
            if i in exempt:
                continue
            if rule.forbidden_match(s):
                if not any(i == r for r, _ in removed):
                    removed.append((i, rule.id))
                if rule.id not in violations:
                    violations.append(rule.id)
                    messages.append(rule.message)
    gone = {i for i, _ in removed}
    kept = [i for i in range(len(sentences)) if i not in gone]
    remaining = [sentences[i] for i in kept]
    for rule in rules:
        if rule.type == "required_disclosure" and rule.disclosure_missing(remaining):
            violations.append(rule.id)
            messages.append(rule.message)
    return ComplianceResult(kept=kept, removed=removed, violations=violations, messages=messages)
