"""Shared fixtures, scoped by cost. Each area keeps its own fixtures in its test modules;
only fixtures used by several areas live here."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def corpora_dir() -> Path:
    """The public corpora beside the project (../shared/corpora); tests that need them skip without."""
    path = (ROOT / ".." / "shared" / "corpora").resolve()
    if not path.is_dir():
        pytest.skip("the public corpora (../shared/corpora) are not beside this checkout")
    return path


@pytest.fixture(scope="session")
def seed_file() -> Path:
    path = (ROOT / ".." / "shared" / "seeds" / "credit-cs-regulation.txt").resolve()
    if not path.is_file():
        pytest.skip("the seed regulation (../shared/seeds) is not beside this checkout")
    return path
