"""Who is calling: a Bearer API key first, else the signed-in session user (the web pages),
with a CSRF check for a session's non-GET requests; and a per-caller rate limit.

A web session counts only while its server-side record stands (`Records.session_user`): the signed
cookie carries the record's token, so signing out, a password change or deactivating the user ends
it at once."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request

from api.ratelimit import RateLimiter
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


def _unauthorized(msg: str) -> HTTPException:
    return HTTPException(401, msg, headers={"WWW-Authenticate": "Bearer"})


def identify(request: Request, records: Records) -> Principal:
    """The caller named by the request's key or session (401 when there is none or it is not
    valid); no CSRF check and no rate limit. The body is not read: the app checks this before it
    accepts one (api.bodies)."""
    cached = request.scope.get("citedesk.principal")
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise _unauthorized("use 'Authorization: Bearer <API key>'")
        key = records.key_for(raw.strip())
        if key is None:
            raise _unauthorized("the API key is unknown or revoked")
        user = records.get_user(key.user_id) if key.user_id else None
        if key.user_id and (user is None or not user.active):
            raise _unauthorized("the API key's user is disabled")
        principal = Principal(name=user.username if user else f"key:{key.name}", role=key.role,
                              user_id=key.user_id, key_id=key.id, via="key")
    else:
        session = request.scope.get("session")
        user = records.session_user(session.get("sid")) if session else None
        if user is None:
            raise _unauthorized("authentication required: send 'Authorization: Bearer <API key>' or sign in")
        principal = Principal(name=user.username, role=user.role, user_id=user.id, via="session")
    request.scope["citedesk.principal"] = principal
    return principal


def resolve_principal(request: Request, records: Records, limiter: RateLimiter | None) -> Principal:
    principal = identify(request, records)
    if principal.via == "key":
        _limit(limiter, f"key:{principal.key_id}")
        return principal
    session = request.scope.get("session") or {}
    if request.method not in SAFE_METHODS:
        token = request.headers.get("x-csrf-token", "")
        expected = session.get("csrf") or ""
        if not expected or not secrets.compare_digest(token, expected):
            raise HTTPException(403, "missing or wrong X-CSRF-Token header for this session")
    _limit(limiter, f"user:{principal.user_id}")
    return principal


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
