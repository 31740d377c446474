"""The one-writer rule: a writer holds an exclusive, non-blocking flock on data_dir/.writer.lock (the
embedded default), or a PostgreSQL advisory lock (a shared deployment: `DatabaseWriterLock`).

The lock is released by the kernel when the process ends, so a crashed writer never leaves a
stale lock behind. The holder's pid is written into the file so a refused writer can name it.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from kb.errors import ServiceUnavailableError, WriterLockedError
from kb.types import stable_hash

LOCK_NAME = ".writer.lock"


class WriterLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise WriterLockedError(
                f"the data directory {self.path.parent} is being written by another process (pid {holder}); "
                "while `citedesk serve` runs, make changes through the running server (its API or web pages), "
                "or stop that process first"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


class DatabaseWriterLock:
    """The one-writer rule of a shared deployment, whose writer may run on any host: a PostgreSQL
    advisory lock, held by a connection of its own for as long as the writer runs.

    PostgreSQL releases it when that connection ends, so a writer that crashed or lost its host
    leaves no stale lock. The key is derived from the database and schema, so two deployments
    sharing a server do not block each other. The holder names itself in `application_name`, so
    a refused writer can say who holds the lock."""

    CLASS_ID = 0x43444B57  # "CDKW"

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = create_engine(url, poolclass=NullPool)
        self._conn = None

    def _key(self, conn) -> int:
        where = conn.execute(text("SELECT current_database() || '.' || current_schema()")).scalar()
        return int(stable_hash(where, length=7), 16)  # fits PostgreSQL's int4

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock; wait up to `wait` seconds for it (0: refuse at once), then raise
        WriterLockedError naming the holder."""
        conn = self._connect()
        try:
            name = f"citedesk writer pid {os.getpid()} on {socket.gethostname()}"[:63]
            conn.execute(text("SELECT set_config('application_name', :n, false)"), {"n": name})
            key = self._key(conn)
            deadline = time.monotonic() + wait
            while not conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": self.CLASS_ID, "k": key}).scalar():
                conn.rollback()
                if time.monotonic() >= deadline:
                    holder = conn.execute(
                        text(
                            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                            " WHERE l.locktype = 'advisory' AND l.classid = :c AND l.objid = :k AND l.granted"
                        ),
                        {"c": self.CLASS_ID, "k": key},
                    ).scalar()
                    raise WriterLockedError(
                        f"the shared knowledge base is being written by another process ({holder or 'unknown'}); "
                        "changes go through the queue that `citedesk worker` takes jobs from (upload through any "
                        "server), or stop that worker first"
                    )
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
            conn.commit()  # the lock is held by the session, not by this transaction
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _connect(self):
        try:
            return self._engine.connect()
        except DBAPIError as exc:
            raise ServiceUnavailableError(f"cannot reach the database for the writer lock: {exc.orig}") from exc

    def check(self) -> bool:
        """Whether the lock is still held: False when the connection that held it was lost (the
        database restarted, the network failed), after which another writer may have it."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1")).scalar()
            self._conn.commit()
            return True
        except Exception:  # noqa: BLE001 - any failure means the session, and so the lock, is gone
            self._drop()
            return False

    def _drop(self) -> None:
        try:
            self._conn.invalidate()
            self._conn.close()
        except Exception:  # noqa: BLE001 - the connection is already broken
            pass
        self._conn = None

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # ends the session, which releases the lock
            finally:
                self._conn = None
        self._engine.dispose()

    @property
    def held(self) -> bool:
        return self._conn is not None

