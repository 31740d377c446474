"""Where the catalog lives: its tables, and the database engine for a SQLite file (the embedded
default, in the data directory) or PostgreSQL (a shared deployment, beside the records).

SQLAlchemy Core gives one set of statements for both. The tables are created when missing, with
the same names and columns as the catalogs written before, so an existing catalog.sqlite opens as
it is. SQLite runs in WAL mode (readers never wait for the writer); a write transaction begins
IMMEDIATE so it holds the write lock from its first statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
)

from kb.errors import ConfigError, ServiceUnavailableError, StoreError

metadata = MetaData()

documents = Table(
    "documents",
    metadata,
    Column("doc_id", Text, primary_key=True),
    Column("title", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_key", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("meta", Text, nullable=False),
    Column("content_hash", Text),
    Column("pipeline_version", Text),
    Column("fingerprint", Text),
    Column("updated_at", Text, nullable=False),
    Index("documents_source_key", "source_key"),
)

chunks = Table(
    "chunks",
    metadata,
    Column("chunk_id", Text, primary_key=True),
    Column("doc_id", Text, ForeignKey("documents.doc_id", ondelete="CASCADE"), nullable=False),
    Column("ord", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("section", Text, nullable=False),
    Column("span_start", Integer),
    Column("span_end", Integer),
    Column("meta", Text, nullable=False),
    Column("tokens", Text, nullable=False),
    Index("chunks_doc", "doc_id", "ord"),
)

state = Table(
    "state",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

sentence_vectors = Table(
    "sentence_vectors",
    metadata,
    Column("embedder", Text, nullable=False),
    Column("text_hash", Text, nullable=False),
    Column("vector", LargeBinary, nullable=False),
    PrimaryKeyConstraint("embedder", "text_hash"),
)

sentence_refs = Table(
    "sentence_refs",
    metadata,
    Column("chunk_id", Text, nullable=False),
    Column("text_hash", Text, nullable=False),
    PrimaryKeyConstraint("chunk_id", "text_hash"),
    Index("sentence_refs_hash", "text_hash"),
)

# execution options: a connection that writes (SQLite begins IMMEDIATE), one that reads several
# statements from one snapshot (SQLite begins a read transaction); other SQLite reads run each
# statement on its own, without BEGIN and ROLLBACK around it
WRITE = "catalog_write"
SNAPSHOT = "catalog_snapshot"


def _sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 5.0}, pool_size=8, max_overflow=8
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, not by the driver
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        options = conn.get_execution_options()
        if options.get(WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif options.get(SNAPSHOT):
            conn.exec_driver_sql("BEGIN")

    return engine


def make_catalog_engine(location: Path | str) -> Engine:
    """The engine of a catalog: a SQLite file path, or a PostgreSQL SQLAlchemy URL."""
    if isinstance(location, Path) or "://" not in str(location):
        return _sqlite_engine(Path(location))
    try:
        url = make_url(str(location))
        if url.get_backend_name() != "postgresql":
            raise ConfigError(f"a shared catalog needs PostgreSQL, not {url.get_backend_name()!r}")
        return create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"cannot use the catalog database {location!r}: {exc}") from exc


def describe(engine: Engine) -> str:
    """The catalog's location for messages, without a password."""
    url = engine.url
    return str(url.database) if url.get_backend_name() == "sqlite" else url.render_as_string(hide_password=True)


@contextmanager
def reachable(engine: Engine) -> Iterator[None]:
    """Turn a database failure into an error a person can act on: ServiceUnavailableError (HTTP 503,
    try again) when a database server cannot be reached, StoreError otherwise. A broken constraint
    (IntegrityError) passes through for the caller to explain."""
    try:
        yield
    except IntegrityError:
        raise
    except DBAPIError as exc:
        where = describe(engine)
        reason = _first_line(exc.orig)
        if engine.url.get_backend_name() != "sqlite" and (
            exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
        ):
            raise ServiceUnavailableError(f"the catalog database ({where}) is unreachable: {reason}") from exc
        raise StoreError(f"the catalog database ({where}) failed: {reason}") from exc


def _first_line(exc: BaseException | None) -> str:
    text = str(exc or "").strip()
    return text.splitlines()[0] if text else type(exc).__name__


# PostgreSQL: readers starting together must not race to create the tables
_CREATE_LOCK = 0x63697465  # "cite"


def create_tables(engine: Engine) -> None:
    with reachable(engine), engine.begin() as conn:
        if engine.url.get_backend_name() == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CREATE_LOCK})
        metadata.create_all(conn, checkfirst=True)
