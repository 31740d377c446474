"""The one-writer rule: a writer holds an exclusive, non-blocking flock on data_dir/.writer.lock.

The lock is released by the kernel when the process ends, so a crashed writer never leaves a
stale lock behind. The holder's pid is written into the file so a refused writer can name it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kb.errors import WriterLockedError

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
