"""Who is calling: a Bearer API key first, else the signed-in session user (the web pages),
with a CSRF check for a session's non-GET requests; and a per-caller rate limit."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

from fastapi import HTTPException, Request

from kb.records import Records, role_at_least

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True)
class Principal:
    name: str  # the user name, or "key:<name>" for an API key without a user
    role: str
    user_id: int | None = None
    key_id: int | None = None
    via: str = "key"  # "key" | "session"

    def at_least(self, minimum: str) -> bool:
        return role_at_least(self.role, minimum)


class RateLimiter:
    """A sliding one-minute window per caller, in process.

    Hand-written because the server is one process (the data directory has one writer), so a
    shared store such as Redis behind the `limits` library would add a service for nothing; this
    is a deque of timestamps per caller under a lock."""

    def __init__(self, per_minute: int, window: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, who: str) -> float | None:
        """Record a request; None when allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(who, deque())
            while q and now - q[0] >= self.window:
                q.popleft()
            if len(q) >= self.per_minute:
                return max(0.0, self.window - (now - q[0]))
            q.append(now)
            return None


def _unauthorized(msg: str) -> HTTPException:
    return HTTPException(401, msg, headers={"WWW-Authenticate": "Bearer"})


def resolve_principal(request: Request, records: Records, limiter: RateLimiter | None) -> Principal:
    header = request.headers.get("authorization")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise _unauthorized("use 'Authorization: Bearer <API key>'")
        key = records.key_for(raw.strip())
        if key is None:
            raise _unauthorized("the API key is unknown or revoked")
        user = records.get_user(key.user_id) if key.user_id else None
        principal = Principal(name=user.username if user else f"key:{key.name}", role=key.role,
                              user_id=key.user_id, key_id=key.id, via="key")
        _limit(limiter, f"key:{key.id}")
        return principal
    session = request.scope.get("session")
    user_id = session.get("user_id") if session else None
    if user_id is not None:
        user = records.get_user(int(user_id))
        if user is None or not user.active:
            raise _unauthorized("the session's user no longer exists; sign in again")
        if request.method not in SAFE_METHODS:
            token = request.headers.get("x-csrf-token", "")
            expected = session.get("csrf") or ""
            if not expected or not secrets.compare_digest(token, expected):
                raise HTTPException(403, "missing or wrong X-CSRF-Token header for this session")
        _limit(limiter, f"user:{user.id}")
        return Principal(name=user.username, role=user.role, user_id=user.id, via="session")
    raise _unauthorized("authentication required: send 'Authorization: Bearer <API key>'")


def _limit(limiter: RateLimiter | None, who: str) -> None:
    if limiter is None:
        return
    wait = limiter.hit(who)
    if wait is not None:
        raise HTTPException(429, f"rate limit of {limiter.per_minute} requests a minute reached",
                            headers={"Retry-After": str(max(1, math.ceil(wait)))})


def forbid_unless(principal: Principal, minimum: str) -> None:
    if not principal.at_least(minimum):
        raise HTTPException(403, f"this needs the {minimum} role or higher; you are {principal.role}")
