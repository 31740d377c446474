"""The dependency rule, between our packages and between the rooms of kb (docs/architecture.md).

Packages: kb imports none of the others; ingest imports kb; evals imports kb and ingest; ui (the
web pages) imports kb, ingest and evals; api (the HTTP API, the app that mounts the pages, and the
CLI) may import everything.

Rooms of kb, lowest first; a module imports only its own room and the rooms below it, and two
rooms on one level never import each other:
  0  the floor: kb.types, kb.errors, kb.settings, kb.bundles (where the data about particular documents is)
  1  kb.text: normalising, tokenising, sentences, personal numbers, figures, the lexicon, what a
     reply may quote
  2  kb.index (catalog, vector store, BM25, embedders, question encoding) and kb.records
  3  kb.search: filters, fusion, the retriever, re-ranking
  4  kb.knowledge: the KnowledgeBase, the index and the search behind one object
  5  kb.answer: the answer pipeline, composers, verification, guards; kb.keys: the question keys a
     company's own use adds (graded questions, accepted replies), kept with their origin
  6  kb.backup: the whole data directory and the records
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"kb", "ingest", "api", "ui", "evals"}
ALLOWED = {
    "kb": set(),
    "ingest": {"kb"},
    "evals": {"kb", "ingest"},
    "ui": {"kb", "ingest", "evals"},
    "api": {"kb", "ingest", "evals", "ui"},
}
LEVELS = {
    "kb.types": 0,
    "kb.errors": 0,
    "kb.settings": 0,
    "kb.bundles": 0,
    "kb.text": 1,
    "kb.index": 2,
    "kb.records": 2,
    "kb.search": 3,
    "kb.knowledge": 4,
    "kb.answer": 5,
    "kb.keys": 5,
    "kb.backup": 6,
}


def imported_modules(path: Path) -> set[str]:
    """Dotted names of our modules that a file imports (`from kb.text import norm` gives kb.text)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in OURS)
    return found


def imported_packages(path: Path) -> set[str]:
    return {m.split(".")[0] for m in imported_modules(path)}


def room_of(module: str) -> str | None:
    """The room a kb module belongs to: the longest LEVELS key it is, or is inside."""
    rooms = [r for r in LEVELS if module == r or module.startswith(r + ".")]
    return max(rooms, key=len) if rooms else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_follow_the_dependency_rule(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_packages(path) - ALLOWED[package] - {package}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_every_kb_module_has_a_room():
    homeless = [module_name(p) for p in sorted((ROOT / "kb").rglob("*.py")) if module_name(p) != "kb"]
    assert [m for m in homeless if room_of(m) is None] == []


def test_kb_rooms_import_only_rooms_below_them():
    offenders = []
    for path in sorted((ROOT / "kb").rglob("*.py")):
        here = room_of(module_name(path))
        if here is None:
            continue
        for imported in imported_modules(path):
            there = room_of(imported)
            if there is None or there == here or LEVELS[there] == LEVELS[here] == 0:  # the floor is one room
                continue
            if LEVELS[there] >= LEVELS[here]:
                offenders.append(f"{path.relative_to(ROOT)} ({here}) imports {imported} ({there})")
    assert not offenders, "\n".join(offenders)


def test_the_walker_sees_a_violation(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import os\nfrom api.app import create_app\nimport kb.types\nfrom kb.answer import composer\n")
    assert imported_packages(sample) == {"api", "kb"}
    assert room_of("kb.answer.composer") == "kb.answer" and room_of("kb.text") == "kb.text"
    assert LEVELS[room_of("kb.answer.composer")] > LEVELS[room_of("kb.search.rerank")]
