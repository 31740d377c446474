"""The one-writer lock: another process holding it is named; a dead holder leaves no stale lock."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from kb.errors import WriterLockedError
from kb.index.locking import WriterLock

HOLDER = """
import sys, time
from kb.index.locking import WriterLock
WriterLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_another_process_holding_the_lock_is_named_and_a_killed_one_frees_it(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(WriterLockedError, match=rf"pid {proc.pid}\b"):
            WriterLock(tmp_path).acquire()
    finally:
        proc.kill()
        proc.wait()
    time.sleep(0.1)
    lock = WriterLock(tmp_path)
    lock.acquire()  # the kernel released the dead holder's lock
    assert lock.held
    lock.release()
    assert not lock.held


def test_release_lets_the_next_writer_in(tmp_path):
    first = WriterLock(tmp_path)
    first.acquire()
    with pytest.raises(WriterLockedError):
        WriterLock(tmp_path).acquire()
    first.release()
    second = WriterLock(tmp_path)
    second.acquire()
    second.release()
