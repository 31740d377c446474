"""Bundles: what CiteDesk knows about particular documents and a particular company, kept as data.

The engine (the rest of kb) names no statute, product or customer question. Everything that does
lives in a bundle, a folder loaded by configuration (`CITEDESK_BUNDLES`) exactly as a company's own
bundle would be. Every part of a bundle is optional and found by its name:

    bundle.yaml           name and description (required)
    question_keys/*.yaml  customers' phrasings of document sections (ingest/question_keys.py)
    lexicon.yaml          lay → legal vocabulary for search (kb/text/lexicon.py)
    rules/guards.yaml     what kind of question this is: complaint, account lookup, company
                          practice, out of scope (kb/answer/guards.py)
    rules/compliance.yaml what a suggested reply must not say or must add (kb/answer/guards.py)
    rules/complaints.yaml complaint topics, departments and deadlines (kb/records/routing.py)
    query_adapter/        an adapter for the bundled e5's question side (kb/index/query_encoder.py)
    documents/            documents to ingest (e.g. the demo company's; `citedesk demo build`)

CiteDesk ships four (the `bundles/` folder next to kb): `credit_cs` (guard and compliance rules
for a consumer-credit customer-service desk), `regulations_zh` (question keys and a lexicon for the
13 statutes of the public regulations_zh corpus), `lay_questions_zh` (the lay-question adapter) and
`demo` (the fictional demo company's documents). bundles/README.md says how to write one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from kb.errors import ConfigError

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "bundles"
# what is loaded when CITEDESK_BUNDLES is unset (the demo's documents are ingested, not loaded)
DEFAULT_BUNDLES = ("credit_cs", "regulations_zh", "lay_questions_zh")


@dataclass(frozen=True)
class Bundle:
    name: str
    path: Path
    description: str = ""

    def part(self, relative: str) -> Path | None:
        """The path of a part of this bundle (a file or a folder), or None when it has none."""
        p = self.path / relative
        return p if p.exists() else None

    def files(self, folder: str, suffixes: tuple[str, ...] = (".yaml", ".yml")) -> list[Path]:
        """The files of a folder part, sorted (none when the bundle has no such folder)."""
        p = self.part(folder)
        if p is None or not p.is_dir():
            return []
        return sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes)


def resolve(entry: str) -> Path:
    """A bundle folder: a path, or the name of a bundle shipped with CiteDesk."""
    entry = entry.strip()
    path = Path(entry).expanduser()
    if path.is_dir():
        return path.resolve()
    if os.sep not in entry and "/" not in entry and (SHIPPED_DIR / entry).is_dir():
        return (SHIPPED_DIR / entry).resolve()
    shipped = ", ".join(sorted(p.name for p in SHIPPED_DIR.iterdir() if (p / "bundle.yaml").is_file()))
    raise ConfigError(f"bundle {entry!r} is neither a folder nor a bundle shipped with CiteDesk ({shipped})")


@lru_cache(maxsize=64)
def _read(path: Path) -> Bundle:
    meta_file = path / "bundle.yaml"
    try:
        meta = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} is not a bundle: it has no bundle.yaml") from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{meta_file} cannot be read: {exc}") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"].strip():
        raise ConfigError(f"{meta_file}: needs a `name`")
    return Bundle(meta["name"].strip(), path, str(meta.get("description") or "").strip())


def load_bundles(spec: str | None) -> tuple[Bundle, ...]:
    """The bundles named by a `CITEDESK_BUNDLES` value: folders or shipped names separated by the
    OS path separator (or commas); None = DEFAULT_BUNDLES; an empty string = none."""
    if spec is None:
        entries = list(DEFAULT_BUNDLES)
    else:
        entries = [e for part in spec.split(os.pathsep) for e in part.split(",") if e.strip()]
    bundles = tuple(_read(resolve(e)) for e in entries)
    names = [b.name for b in bundles]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"bundles named twice in CITEDESK_BUNDLES: {', '.join(twice)}")
    return bundles


def shipped(name: str) -> Bundle:
    """A bundle shipped with CiteDesk, by name."""
    return _read(resolve(name))
