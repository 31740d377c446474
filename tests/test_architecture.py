"""The dependency rule: kb imports none of our other packages; ingest and evals import kb
(evals may use ingest); only api and ui — the web layer — may import everything."""

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
    "api": {"kb", "ingest", "evals", "ui"},
    "ui": {"kb", "ingest", "evals", "api"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(n.split(".")[0] for n in names if n.split(".")[0] in OURS)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_follow_the_dependency_rule(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_packages(path) - ALLOWED[package] - {package}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not offenders, "\n".join(offenders)


def test_the_walker_sees_a_violation(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("import os\nfrom api.app import create_app\nimport kb.types\n")
    assert imported_packages(sample) == {"api", "kb"}
