"""Following the catalog: a reader of a shared deployment keeps its lexical index and caches at
the catalog's current snapshot, in a thread of its own, so no search waits for a rebuild.

The thread wakes on a change notice (the writer publishes one after every commit, through Redis)
or every `interval` seconds without one, and calls `refresh`, which moves the reader to the
catalog's snapshot when it changed. Notices only make it quicker: the catalog is the truth, so a
lost notice, or Redis being down, delays a change by at most `interval`. A failing refresh (the
database unreachable) is logged and tried again, with a growing pause, until it succeeds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


class SnapshotFollower:
    def __init__(
        self,
        refresh: Callable[[], str | None],
        interval: float = 2.0,
        wait_for_notice: Callable[[float], object] | None = None,
    ) -> None:
        """`refresh()` moves the reader to the catalog's snapshot (the new snapshot id, or None when
        it was current); `wait_for_notice(timeout)` returns when a change notice arrives or after
        `timeout` seconds (a plain sleep without one)."""
        self.refresh = refresh
        self.interval = interval
        self.wait_for_notice = wait_for_notice
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.last_checked: float | None = None  # time.time() of the last successful check
        self.moves = 0

    def start(self) -> SnapshotFollower:
        self._thread = threading.Thread(target=self._run, name="snapshot-follower", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def check(self) -> str | None:
        """One refresh now (what the thread does when woken); the new snapshot or None."""
        moved = self.refresh()
        self.last_checked, self.last_error = time.time(), None
        if moved is not None:
            self.moves += 1
        return moved

    def _wait(self, seconds: float) -> None:
        if self.wait_for_notice is None:
            self._stop.wait(seconds)
            return
        try:
            self.wait_for_notice(seconds)
        except Exception as exc:  # noqa: BLE001 - notices are an optimisation; fall back to polling
            log.debug("change notices unavailable (%s); polling the catalog", exc)
            self._stop.wait(seconds)

    def _run(self) -> None:
        pause = self.interval
        while not self._stop.is_set():
            try:
                moved = self.check()
                if moved is not None:
                    log.info("now serving catalog snapshot %s", moved)
                pause = self.interval
            except Exception as exc:  # noqa: BLE001 - keep serving the last snapshot and try again
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("could not follow the catalog (%s); serving the last snapshot, retrying in %.0f s",
                            self.last_error, pause)
                self._stop.wait(pause)
                pause = min(MAX_BACKOFF, pause * 2)
                continue
            self._wait(self.interval)
