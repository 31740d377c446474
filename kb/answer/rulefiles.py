"""Reading rule files (a bundle's rules/*.yaml): YAML with clear errors, and patterns compiled the
way the text they are matched on is normalised."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from kb.errors import ConfigError
from kb.text.norm import SURNAMES, to_simplified


def read_yaml(path: Path, what: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from exc


def compile_patterns(patterns: Any, where: str) -> tuple[re.Pattern, ...]:
    """Case-insensitive regular expressions from a string or a non-empty list of strings, in the form
    of the text they are matched on (NFKC, Simplified); `{SURNAME}` stands for a common surname."""
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
        raise ConfigError(f"{where}: must be a non-empty list of regular expressions")
    out = []
    for p in patterns:
        p = p.replace("{SURNAME}", f"[{SURNAMES}]")
        try:
            # not normalize(): lower-casing would turn \D or \S into \d or \s
            out.append(re.compile(to_simplified(unicodedata.normalize("NFKC", p)), re.IGNORECASE))
        except re.error as exc:
            raise ConfigError(f"{where}: invalid regular expression {p!r}: {exc}") from exc
    return tuple(out)


def any_of(patterns: tuple[re.Pattern, ...]) -> re.Pattern | None:
    """One case-insensitive pattern matching any of the given ones (None for none)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.IGNORECASE)
