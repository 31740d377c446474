"""`Records`: the repository over the records database (SQLite file by default,
PostgreSQL when CITEDESK_DATABASE_URL is set). Users, API keys, interactions, feedback and
the audit trail live here; Q&A sets, evaluation runs and accuracy metrics in `kb.records.curation`;
complaints in `kb.records.complaints`, spot checks in `kb.records.spotchecks`, the service KPIs in
`kb.records.kpis`. Customer narrative is encrypted by its column type (`kb.records.crypto`) with
the keyring given here, or `Records.open(settings)`'s."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from kb.errors import ConfigError, NotFoundError, ValidationError
from kb.records.complaints import ComplaintsMixin
from kb.records.crypto import KeyRing, attach, default_keyring, key_usage, keyring_for, reencrypt_all
from kb.records.curation import CurationMixin, mask_strings
from kb.records.kpis import KpisMixin
from kb.records.models import (
    ROLES,
    VERDICTS,
    ApiKey,
    AuditEvent,
    Base,
    Complaint,
    Feedback,
    FollowUp,
    Interaction,
    SpotCheck,
    User,
    WebSession,
    utcnow,
)
from kb.records.routing import ComplaintRules
from kb.records.sessions import SessionMixin
from kb.records.spotchecks import SpotChecksMixin
from kb.text.pii import mask_pii

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
KEY_PREFIX = "cdk_"
_hasher = PasswordHasher()
_UNUSABLE_HASH: list[str] = []  # a hash no password matches, made once: unknown users cost the same


def _unusable_hash() -> str:
    if not _UNUSABLE_HASH:
        _UNUSABLE_HASH.append(_hasher.hash(secrets.token_urlsafe(32)))
    return _UNUSABLE_HASH[0]


def hash_key(raw: str) -> str:
    """API keys are 32 random bytes, so a plain sha256 is enough (no slow hash needed)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _mask(text: str | None) -> str | None:
    return None if text is None else mask_pii(text).text


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


class Records(CurationMixin, SessionMixin, ComplaintsMixin, SpotChecksMixin, KpisMixin):
    def __init__(self, url: str, *, echo: bool = False, keyring: KeyRing | None = None,
                 rules: ComplaintRules | None = None) -> None:
        """`keyring` encrypts customer narrative; without one, a SQLite file uses records.key
        beside it (created on first use) and an in-memory database a temporary key. `rules` are
        the complaint rules (the default bundles' when None)."""
        self.url = url
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        if keyring is None:
            if self.backend != "sqlite":
                raise ConfigError("a records database other than SQLite needs its encryption keyring: open it with "
                                  "Records.open(settings) (CITEDESK_RECORDS_KEY or CITEDESK_RECORDS_KEY_FILE)")
            keyring = default_keyring(parsed.database)
        self.keyring = keyring
        self.rules = rules or ComplaintRules.for_settings()
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.backend == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine = create_engine(url, **kwargs)
        except Exception as exc:  # bad URL, missing driver
            raise ConfigError(f"cannot use records database {parsed.render_as_string(hide_password=True)}: "
                              f"{exc}") from exc
        if self.backend == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        attach(self.engine, keyring)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, settings: Any) -> Records:
        """The records the settings name, with their keyring and complaint rules."""
        return cls(settings.records_url, keyring=keyring_for(settings), rules=ComplaintRules.for_settings(settings))

    # -- schema ------------------------------------------------------------------------------
    def migrate(self) -> None:
        """Upgrade the schema to the newest Alembic revision."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        before = self.revision()
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        if self.backend == "sqlite" and before is not None and self.revision() != before:
            with self.engine.connect() as conn:  # rewrite the file: no page keeps text from before the upgrade
                conn.exec_driver_sql("VACUUM")

    def revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        self.engine.dispose()

    # -- users -------------------------------------------------------------------------------
    def add_user(self, username: str, role: str, password: str | None = None) -> User:
        username = (username or "").strip()
        if not username or len(username) > 100:
            raise ValidationError("a user name is 1 to 100 characters")
        _check_role(role)
        with self.Session.begin() as s:
            if s.scalar(select(User).where(User.username == username)):
                raise ValidationError(f"user {username!r} already exists")
            user = User(username=username, role=role, active=True,
                        password_hash=_hasher.hash(password) if password else None)
            s.add(user)
            s.flush()
            return user

    def set_password(self, username: str, password: str) -> None:
        """Set a new password; every web session of the user ends."""
        with self.Session.begin() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFoundError(f"no user {username!r}")
            user.password_hash = _hasher.hash(password)
            user_id = user.id
        self.end_sessions_of(user_id)

    def set_active(self, username: str, active: bool) -> User:
        """Enable or disable a user; disabling ends every web session of the user."""
        with self.Session.begin() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFoundError(f"no user {username!r}")
            user.active = active
        if not active:
            self.end_sessions_of(user.id)
        return user

    def authenticate(self, username: str, password: str) -> User | None:
        """The active user with this password, or None. An unknown, disabled or password-less user
        costs one password check too, so the time taken does not tell which names exist."""
        with self.Session() as s:
            user = s.scalar(select(User).where(User.username == username, User.active.is_(True)))
        stored = user.password_hash if user is not None and user.password_hash else None
        try:
            _hasher.verify(stored or _unusable_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        return user if stored else None

    def get_user(self, user_id: int) -> User | None:
        with self.Session() as s:
            return s.get(User, user_id)

    def get_user_by_name(self, username: str) -> User | None:
        with self.Session() as s:
            return s.scalar(select(User).where(User.username == username))

    def users(self) -> list[User]:
        with self.Session() as s:
            return list(s.scalars(select(User).order_by(User.id)))

    def set_team(self, username: str, team: str | None) -> User:
        """The agent team a user belongs to (the KPIs group by it); None or "" for none."""
        team = (team or "").strip() or None
        if team is not None and len(team) > 100:
            raise ValidationError("a team name is at most 100 characters")
        with self.Session.begin() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFoundError(f"no user {username!r}")
            user.team = team
            return user

    # -- API keys ----------------------------------------------------------------------------
    def create_key(self, name: str, role: str, user_id: int | None = None) -> tuple[ApiKey, str]:
        """Create a key; the raw key is returned once and only its hash is stored."""
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise ValidationError("a key name is 1 to 100 characters")
        _check_role(role)
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.Session.begin() as s:
            key = ApiKey(name=name, role=role, prefix=raw[:12], key_hash=hash_key(raw), user_id=user_id,
                         revoked=False)
            s.add(key)
            s.flush()
            return key, raw

    def keys(self) -> list[ApiKey]:
        with self.Session() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.id)))

    def revoke_key(self, key_id_or_prefix: str | int) -> ApiKey:
        with self.Session.begin() as s:
            ref = str(key_id_or_prefix)
            key = s.get(ApiKey, int(ref)) if ref.isdigit() else s.scalar(
                select(ApiKey).where(ApiKey.prefix == ref))
            if key is None:
                raise NotFoundError(f"no API key {ref!r} (give its id or its prefix)")
            key.revoked = True
            return key

    def key_for(self, raw: str) -> ApiKey | None:
        """The active key whose hash matches `raw`, or None."""
        if not raw or not raw.startswith(KEY_PREFIX):
            return None
        with self.Session() as s:
            return s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(raw), ApiKey.revoked.is_(False)))

    # -- interactions and feedback -----------------------------------------------------------
    def save_interaction(self, answer: dict[str, Any], *, kind: str | None = None, product: str | None = None,
                         snapshot_id: str | None = None, settings_hash: str | None = None,
                         user_id: int | None = None, api_key_id: int | None = None) -> int:
        """Store one answered question (the question is masked again here, whatever the caller did)."""
        with self.Session.begin() as s:
            question = _mask(answer.get("question", "")) or ""
            user = s.get(User, user_id) if user_id else None
            row = Interaction(
                question=question,
                topic=self.rules.topic_of(question, product),
                team=user.team if user else None,
                answer=_mask(answer.get("answer", "")) or "",
                citations=answer.get("citations") or [],
                flags=list(answer.get("flags") or []),
                mode=str(answer.get("mode") or "extractive"),
                latency_ms=float(answer.get("latency_ms") or 0.0),
                confidence=float(answer.get("confidence") or 0.0),
                abstained=bool(answer.get("abstained")),
                kind=kind, product=product, snapshot_id=snapshot_id, settings_hash=settings_hash,
                user_id=user_id, api_key_id=api_key_id,
            )
            s.add(row)
            s.flush()
            return row.id

    def get_interaction(self, interaction_id: int) -> Interaction:
        with self.Session() as s:
            row = s.get(Interaction, interaction_id)
        if row is None:
            raise NotFoundError(f"no interaction {interaction_id}")
        return row

    def interactions(self, limit: int = 100) -> list[Interaction]:
        with self.Session() as s:
            return list(s.scalars(select(Interaction).order_by(Interaction.id.desc()).limit(limit)))

    def add_feedback(self, interaction_id: int, verdict: str, *, edited_reply: str | None = None,
                     comment: str | None = None, user_id: int | None = None, actor: str | None = None) -> Feedback:
        if verdict not in VERDICTS:
            raise ValidationError(f"verdict must be one of {', '.join(VERDICTS)}")
        if verdict == "edited" and not (edited_reply or "").strip():
            raise ValidationError("an 'edited' verdict needs the edited reply")
        with self.Session.begin() as s:
            if s.get(Interaction, interaction_id) is None:
                raise NotFoundError(f"no interaction {interaction_id}")
            fb = Feedback(interaction_id=interaction_id, verdict=verdict, edited_reply=_mask(edited_reply),
                          comment=_mask(comment), user_id=user_id, actor=actor)
            s.add(fb)
            s.flush()
            return fb

    def feedback_for(self, interaction_id: int) -> list[Feedback]:
        with self.Session() as s:
            return list(s.scalars(select(Feedback).where(Feedback.interaction_id == interaction_id)
                                  .order_by(Feedback.id)))

    def count(self, table: str) -> int:
        model = {"interactions": Interaction, "feedback": Feedback, "users": User, "api_keys": ApiKey,
                 "audit_events": AuditEvent, "web_sessions": WebSession, "complaints": Complaint,
                 "follow_ups": FollowUp, "spot_checks": SpotCheck}[table]
        with self.Session() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0

    # -- audit -------------------------------------------------------------------------------
    def audit(self, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None) -> None:
        with self.Session.begin() as s:
            s.add(AuditEvent(actor=actor, action=action, target=(_mask(str(target)) or "")[:300],
                             detail=mask_strings(detail or {})))

    def audit_events(self, actor: str | None = None, action: str | None = None, since: datetime | None = None,
                     limit: int = 200) -> list[AuditEvent]:
        q = select(AuditEvent)
        if actor:
            q = q.where(AuditEvent.actor == actor)
        if action:
            q = q.where(AuditEvent.action == action)
        if since:
            if self.backend == "sqlite" and since.tzinfo is not None:  # SQLite keeps UTC without a zone
                since = since.astimezone(UTC).replace(tzinfo=None)
            q = q.where(AuditEvent.at >= since)
        with self.Session() as s:
            return list(s.scalars(q.order_by(AuditEvent.id.desc()).limit(limit)))

    def now(self) -> datetime:
        return utcnow()

    # -- encryption at rest ------------------------------------------------------------------
    def encryption_status(self) -> dict[str, Any]:
        """Where the keys come from, their ids (the first encrypts) and how many stored values
        each key encrypts ("plain": values not encrypted, which should be none)."""
        with self.engine.connect() as conn:
            usage = key_usage(conn, Base.metadata)
        return {"cipher": "Fernet (AES-128-CBC + HMAC-SHA256)", "source": self.keyring.source,
                "keys": list(self.keyring.ids), "primary": self.keyring.primary, "values": usage}

    def rotate_key(self, keyring: KeyRing) -> int:
        """Re-encrypt every encrypted value under `keyring`'s newest key, in one transaction (it
        must also hold the keys the values are under now); returns how many values changed."""
        attach(self.engine, keyring)
        try:
            with self.engine.begin() as conn:
                changed = reencrypt_all(conn, Base.metadata, keyring)
        except BaseException:
            attach(self.engine, self.keyring)
            raise
        self.keyring = keyring
        return changed


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA secure_delete=ON")  # freed pages are zeroed, so no old text lingers in the file
    cur.close()
