"""Question keys: common customer phrasings (常见问法) of sections of documents kept elsewhere.

Customers ask in their own words ("晚还几天会不会影响信用"); documents state rules in theirs
("逾期未还款的，将按规定报送信用信息"). Customer-service knowledge bases bridge that gap with a list of
the ways customers ask for each knowledge item; an FAQ file carries them as similar questions. A
question-keys file does the same for documents whose files the team does not edit (statutes,
a regulator's rules): it names the source file and, per section, the questions it answers.

    - source: 还款规则                  # the document's file name without its extension
      sections:
        提前还款: [能不能提前把钱一次还清, 提前还要不要手续费]

At ingest, a section's questions become search keys of the first chunk of that section (the
chunk whose section path ends with the label), exactly like an FAQ's similar questions: each is
embedded as a vector that leads to the chunk and indexed for BM25 with it; the reply still quotes
the chunk's own text. Files are read from the `question_keys/` folder of every loaded bundle
(kb/bundles.py; the regulations_zh bundle holds the statutes' keys) and from `CITEDESK_QUESTION_KEYS`
(further files or folders, separated by the OS path separator). A bad file fails the whole ingest
before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kb.bundles import Bundle
from kb.errors import ConfigError
from kb.text.norm import normalize
from kb.text.pii import mask_pii
from kb.types import Chunk

KEYS_FOLDER = "question_keys"  # in a bundle
MAX_QUESTIONS = 20  # per section
MAX_CHARS = 200  # per question


def source_name(source: str) -> str:
    """What a keys file's `source` is compared with: the file name without its extension, normalised."""
    return normalize(Path(str(source).removeprefix("upload:")).stem).strip()


@dataclass(frozen=True)
class QuestionKeys:
    by_source: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def sections(self, source: str) -> dict[str, list[str]]:
        return self.by_source.get(source_name(source), {})

    def digest(self, source: str) -> str | None:
        """Changes whenever the keys of this source change (None when it has none), so an
        unchanged file whose keys changed is ingested again."""
        sections = self.sections(source)
        if not sections:
            return None
        body = json.dumps(sections, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]

    def apply(self, source: str, chunks: list[Chunk]) -> None:
        """Add the keys to the first chunk of each named section."""
        sections = self.sections(source)
        done: set[str] = set()
        for chunk in chunks:
            label = normalize((chunk.section or "").split(" > ")[-1]).strip()
            if label in sections and label not in done:
                done.add(label)
                have = [str(k) for k in chunk.meta.get("keys") or []]
                chunk.meta["keys"] = list(dict.fromkeys([*have, *sections[label]]))


def _files(spec: str) -> list[Path]:
    out: list[Path] = []
    for part in (p for p in spec.split(os.pathsep) if p.strip()):
        path = Path(part.strip())
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix.lower() in (".yaml", ".yml") and p.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise ConfigError(f"question keys: {path} does not exist (CITEDESK_QUESTION_KEYS)")
    return out


def _entries(path: Path, raw: Any) -> list[tuple[str, dict[str, list[str]]]]:
    where = path.name
    if not isinstance(raw, list):
        raise ConfigError(f"question keys {where}: expected a list of {{source, sections}} entries")
    out = []
    for i, entry in enumerate(raw, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("source"), str) or not entry["source"].strip():
            raise ConfigError(f"question keys {where}, entry {i}: needs a `source` (the document's file name)")
        sections = entry.get("sections")
        if not isinstance(sections, dict) or not sections:
            raise ConfigError(f"question keys {where}, entry {i} ({entry['source']}): `sections` must map labels to questions")
        clean: dict[str, list[str]] = {}
        for label, questions in sections.items():
            if not isinstance(questions, list) or not all(isinstance(q, str) and q.strip() for q in questions):
                raise ConfigError(f"question keys {where}, {entry['source']} {label}: expected a list of questions")
            if len(questions) > MAX_QUESTIONS or any(len(q) > MAX_CHARS for q in questions):
                raise ConfigError(
                    f"question keys {where}, {entry['source']} {label}: at most {MAX_QUESTIONS} questions "
                    f"of at most {MAX_CHARS} characters"
                )
            # authored text, but masked like every document before it is stored or embedded
            clean[normalize(str(label)).strip()] = [mask_pii(q.strip()).text for q in questions]
        out.append((source_name(entry["source"]), clean))
    return out


_cache: dict[tuple, QuestionKeys] = {}


def load_question_keys(bundles: tuple[Bundle, ...] = (), spec: str | None = None) -> QuestionKeys:
    """The keys of the bundles' question_keys/ files and of every file named by `spec` (see the
    module doc). Parsed once per set of file versions (an upload does not re-read unchanged files)."""
    files = [f for b in bundles for f in b.files(KEYS_FOLDER)] + _files(spec or "")
    signature = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    if signature in _cache:
        return _cache[signature]
    by_source: dict[str, dict[str, list[str]]] = {}
    for path in files:
        try:
            raw = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"question keys {path.name}: cannot be read ({exc})") from exc
        for source, sections in _entries(path, raw):
            merged = by_source.setdefault(source, {})
            for label, questions in sections.items():
                merged[label] = list(dict.fromkeys([*merged.get(label, []), *questions]))
    if len(_cache) > 8:
        _cache.clear()
    _cache[signature] = QuestionKeys(by_source)
    return _cache[signature]
