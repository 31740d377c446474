"""Rate limits on the `limits` library (moving window), all on one storage named by
CITEDESK_RATE_LIMIT_STORAGE (`memory://` in the server process by default; `redis://host:6379`
shares the counts between several server processes): requests per API key or signed-in user, and
sign-in attempts per user name and per client address.

`LoginGuard` also bounds how many password checks run at once (argon2 takes 64 MiB each), so a
burst of sign-ins cannot take the server's memory."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from limits.strategies import RateLimiter as _Strategy

from kb.errors import ConfigError


def make_storage(uri: str) -> Storage:
    try:
        return storage_from_string(uri)
    except Exception as exc:  # an unknown scheme, or a missing driver for it
        raise ConfigError(f"CITEDESK_RATE_LIMIT_STORAGE={uri!r} cannot be used: {exc}") from exc


def parse_limit(text: str) -> RateLimitItem:
    """'5/15minutes', '120/minute' → a limits item; ValueError for anything else."""
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a rate such as 5/15minutes or 120/minute") from exc


class RateLimiter:
    """Requests per caller in a moving one-minute window."""

    def __init__(self, storage: Storage, per_minute: int) -> None:
        self.per_minute = per_minute
        self.item = parse(f"{per_minute}/minute")
        self._strategy: _Strategy = MovingWindowRateLimiter(storage)

    def hit(self, who: str) -> float | None:
        """Record a request; None when allowed, else the seconds to wait."""
        if self._strategy.hit(self.item, "request", who):
            return None
        stats = self._strategy.get_window_stats(self.item, "request", who)
        return max(0.0, stats.reset_time - _now())


@dataclass(frozen=True)
class Refusal:
    reason: str  # "user" | "address" | "busy"
    retry_after: int


class LoginGuard:
    """Failed sign-ins per user name and per client address (moving windows), and at most
    `concurrent` password checks at a time. Once a name or an address has used its failures, every
    attempt is refused — a correct password too — until the window has moved on."""

    def __init__(self, storage: Storage, per_user: str, per_address: str, concurrent: int = 2,
                 wait: float = 10.0) -> None:
        self.per_user = parse_limit(per_user)
        self.per_address = parse_limit(per_address)
        self._strategy: _Strategy = MovingWindowRateLimiter(storage)
        self._concurrent = concurrent
        self._wait = wait
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary())

    def refused(self, username: str, address: str) -> Refusal | None:
        for reason, item, key in (("user", self.per_user, username.lower()), ("address", self.per_address, address)):
            if not self._strategy.test(item, "login-failure", reason, key):
                stats = self._strategy.get_window_stats(item, "login-failure", reason, key)
                return Refusal(reason, max(1, int(stats.reset_time - _now()) + 1))
        return None

    def failed(self, username: str, address: str) -> None:
        self._strategy.hit(self.per_user, "login-failure", "user", username.lower())
        self._strategy.hit(self.per_address, "login-failure", "address", address)

    def slot(self) -> asyncio.Semaphore:
        """The semaphore password checks wait on, one per event loop (the server runs one)."""
        loop = asyncio.get_running_loop()
        if loop not in self._slots:
            self._slots[loop] = asyncio.Semaphore(self._concurrent)
        return self._slots[loop]

    async def acquire(self) -> bool:
        """Wait (without holding a thread) for a password-check slot; False after `wait` seconds."""
        try:
            await asyncio.wait_for(self.slot().acquire(), timeout=self._wait)
        except TimeoutError:
            return False
        return True

    def release(self) -> None:
        self.slot().release()


def _now() -> float:
    import time

    return time.time()
