"""Server-side web sessions, mixed into `Records` (kb.records.repo), which provides `Session`.

The session cookie (signed by the web layer) carries only a random token; the record here says
whether it still stands. Every request looks it up, so signing out, a password change or a
deactivated user ends a session at once — in every server process sharing the records database.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from kb.records.models import User, WebSession, utcnow

SESSION_DAYS = 14  # as long as the signed cookie itself lives


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionMixin:
    Session: Any
    backend: str

    def start_session(self, user_id: int, days: int = SESSION_DAYS) -> str:
        """A new session of the user; returns the token the cookie carries (stored only as a hash)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.Session.begin() as s:
            s.execute(delete(WebSession).where(WebSession.expires_at < self._db_time(now)))
            s.add(WebSession(token_hash=_token_hash(token), user_id=user_id, created_at=now,
                             expires_at=now + timedelta(days=days)))
        return token

    def session_user(self, token: str | None) -> User | None:
        """The active user of a standing, unexpired session; None otherwise."""
        if not token or not isinstance(token, str) or len(token) > 200:
            return None
        with self.Session() as s:
            row = s.execute(select(WebSession, User).join(User, User.id == WebSession.user_id)
                            .where(WebSession.token_hash == _token_hash(token))).first()
        if row is None:
            return None
        session, user = row
        if not user.active or _aware(session.expires_at) <= utcnow():
            return None
        return user

    def end_session(self, token: str | None) -> None:
        if token and isinstance(token, str):
            with self.Session.begin() as s:
                s.execute(delete(WebSession).where(WebSession.token_hash == _token_hash(token)))

    def end_sessions_of(self, user_id: int) -> int:
        """End every session of a user; returns how many there were."""
        with self.Session.begin() as s:
            return s.execute(delete(WebSession).where(WebSession.user_id == user_id)).rowcount or 0

    def _db_time(self, when: datetime) -> datetime:
        # SQLite keeps UTC without a zone; PostgreSQL compares aware times (a time without a zone is UTC)
        when = _aware(when)
        return when.astimezone(UTC).replace(tzinfo=None) if self.backend == "sqlite" else when


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
