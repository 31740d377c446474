"""A server of a shared deployment is a reader: it opens the shared catalog, records and vector
collection, follows the catalog's snapshot (kb.index.follow), queues writes for `citedesk worker`
(api.writes.QueuedWrites) and counts rate limits in Redis (api.shared).

It never exits because a service is down. When PostgreSQL and the Chroma server answer at start,
it opens everything before it accepts a connection (a restarted reader is not sent agents before
it can answer them). When they do not, the process runs anyway and every request gets 503 with
the reason (a load balancer sends agents to the other readers); it keeps trying, and serves as
soon as they are back. Once serving, a database
or Redis that goes away means 503 for the requests that need it (api.errors), and the
knowledge base follows the catalog again when it returns.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from kb.errors import ServiceUnavailableError
from kb.settings import Settings

log = logging.getLogger("citedesk.reader")

MAX_PAUSE = 30.0


class Unavailable:
    """Stands in for the records, knowledge base, answerer and writes until they are opened:
    any use is a 503 saying what the server is waiting for."""

    def __init__(self, reader: SharedReader) -> None:
        self._reader = reader

    def __getattr__(self, name: str) -> Any:
        raise ServiceUnavailableError(f"this server is starting and waiting for its services: {self._reader.waiting}")


class SharedReader:
    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app, self.settings = app, settings
        self.waiting = "connecting to PostgreSQL and the Chroma server"
        self.kb = self.records = None
        self._stop = threading.Event()

    def start(self) -> SharedReader:
        """Open now when the services answer: the server then accepts connections only once it
        can serve (a proxy sends agents elsewhere meanwhile). Otherwise serve 503 and keep trying."""
        from api.ratelimit import LoginGuard
        from api.shared import SharedRateLimiter, limits_storage

        storage = limits_storage(self.settings)  # every reader counts on the same storage
        self.app.state.limiter = SharedRateLimiter(storage, self.settings.rate_limit_per_minute)
        self.app.state.login_guard = LoginGuard(storage, self.settings.login_limit_per_user,
                                                self.settings.login_limit_per_address)
        try:
            self._open()
            return self
        except (ServiceUnavailableError, DBAPIError) as exc:
            self._note(exc)
        placeholder = Unavailable(self)
        for name in ("records", "kb", "answerer", "writes"):
            setattr(self.app.state, name, placeholder)
        threading.Thread(target=self._connect, name="shared-connect", daemon=True).start()
        return self

    def _note(self, exc: Exception) -> None:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        self.waiting = reason[0] if reason else type(exc).__name__
        log.warning("cannot serve yet (%s); answering 503 and trying again", self.waiting)

    def _connect(self) -> None:
        pause = 1.0
        while not self._stop.is_set():
            try:
                self._open()
                return
            except (ServiceUnavailableError, DBAPIError) as exc:
                self._note(exc)
            except Exception:  # noqa: BLE001 - a bug or bad setting: say it on every request and in the log
                log.exception("cannot open the shared knowledge base")
                self.waiting = "the server failed to start; see its log"
                return
            self._stop.wait(pause)
            pause = min(MAX_PAUSE, pause * 2)

    def _open(self) -> None:
        from api.app import warm_up
        from api.shared import NoticeWaiter
        from api.writes import QueuedWrites
        from kb.answer.pipeline import Answerer
        from kb.knowledge import KnowledgeBase
        from kb.records import Records

        records = Records.open(self.settings)
        try:
            records.migrate()
            kb = KnowledgeBase.open(self.settings)
        except BaseException:
            records.close()
            raise
        started = time.monotonic()
        warm_up(kb)  # the first snapshot's index, built before the first agent asks
        kb.follow(wait_for_notice=NoticeWaiter(self.settings))
        state = self.app.state
        state.answerer = Answerer(kb, self.settings)
        state.writes = QueuedWrites(self.settings)
        state.records, state.kb = records, kb
        self.records, self.kb = records, kb
        log.info("serving catalog snapshot %s (ready in %.1f s)", kb.snapshot_id, time.monotonic() - started)

    def close(self) -> None:
        self._stop.set()
        if self.kb is not None:
            self.kb.close()
        if self.records is not None:
            self.records.close()
