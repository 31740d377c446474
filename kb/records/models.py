"""SQLAlchemy models of the records database: users, API keys, interactions, feedback,
Q&A sets, evaluation runs, the audit trail, complaints with their follow-up calls, and spot
checks. The Alembic migrations in ./migrations create exactly these tables. Columns typed
`EncryptedText` (kb.records.crypto) hold customer narrative and are encrypted at rest."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from kb.records.crypto import EncryptedText

# agent < supervisor (客服主管: oversees complaints, deadlines and the service KPIs) < trainer < admin
ROLES = ("agent", "supervisor", "trainer", "admin")
VERDICTS = ("accepted", "edited", "rejected")


def utcnow() -> datetime:
    return datetime.now(UTC)


def role_at_least(role: str | None, minimum: str) -> bool:
    """True when `role` ranks at or above `minimum` (agent < supervisor < trainer < admin)."""
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(minimum)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    team: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the agent team the KPIs group by
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(20), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Interaction(Base):
    __tablename__ = "interactions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(EncryptedText)  # masked, then encrypted
    answer: Mapped[str] = mapped_column(EncryptedText)
    citations: Mapped[list[Any]] = mapped_column(JSON, default=list)
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    mode: Mapped[str] = mapped_column(String(30), default="extractive")
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    abstained: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str | None] = mapped_column(String(30), nullable=True)
    product: Mapped[str | None] = mapped_column(String(100), nullable=True)
    topic: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)  # from the complaint rules
    team: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the asking agent's, at the time
    snapshot_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    settings_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Feedback(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    verdict: Mapped[str] = mapped_column(String(20))
    edited_reply: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    comment: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QASet(Base):
    __tablename__ = "qa_sets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class QAItem(Base):
    __tablename__ = "qa_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    qaset_id: Mapped[int] = mapped_column(ForeignKey("qa_sets.id", ondelete="CASCADE"), index=True)
    ext_id: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the id in an imported set file
    question: Mapped[str] = mapped_column(Text)
    reference_answer: Mapped[str] = mapped_column(Text, default="")
    key_points: Mapped[list[Any]] = mapped_column(JSON, default=list)
    expected_sources: Mapped[list[Any]] = mapped_column(JSON, default=list)
    answerable: Mapped[bool] = mapped_column(Boolean, default=True)
    topic: Mapped[str | None] = mapped_column(String(100), nullable=True)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    author: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reviewed: Mapped[str | None] = mapped_column(String(100), nullable=True)  # reviewer or review date
    grades: Mapped[list[Any]] = mapped_column(JSON, default=list)
    source_interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvalRun(Base):
    __tablename__ = "eval_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_name: Mapped[str] = mapped_column(String(200), index=True)
    qaset_id: Mapped[int | None] = mapped_column(ForeignKey("qa_sets.id", ondelete="SET NULL"), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="done")  # queued|running|done|failed
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    overall: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    per_topic: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    snapshot_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    settings_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EvalResult(Base):
    __tablename__ = "eval_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(100), nullable=True)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(100), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class WebSession(Base):
    """A signed-in browser session. The cookie holds a random token; only its sha256 is stored.
    A request is signed in only while its row exists and has not expired: signing out, a password
    change and deactivating the user delete the rows."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


COMPLAINT_STATUSES = ("new", "routed", "resolved", "closed")
FOLLOWUP_OUTCOMES = ("satisfied", "not_satisfied", "unreachable")
RUBRIC = ("accurate", "complete", "polite", "compliant")


class Complaint(Base):
    """A complaint record: drafted from a conversation, routed to the responsible department by
    the rule file, with its deadlines; the customer's account of it is encrypted."""

    __tablename__ = "complaints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_no: Mapped[str | None] = mapped_column(String(40), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    topic: Mapped[str] = mapped_column(String(100), index=True)
    product: Mapped[str | None] = mapped_column(String(100), nullable=True)
    department: Mapped[str] = mapped_column(String(100), index=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    signals: Mapped[list[Any]] = mapped_column(JSON, default=list)
    amount: Mapped[float | None] = mapped_column(Float, nullable=True)
    narrative: Mapped[str] = mapped_column(EncryptedText)  # what the customer says happened (masked)
    request: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)  # what they ask for
    procedure_step: Mapped[str | None] = mapped_column(Text, nullable=True)  # quoted from the knowledge base
    procedure_source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    resolution: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    interaction_id: Mapped[int | None] = mapped_column(ForeignKey("interactions.id", ondelete="SET NULL"),
                                                       nullable=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                 index=True)
    agent: Mapped[str] = mapped_column(String(100))
    team: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the recording agent's, at the time
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    response_due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolve_due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    routed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    case_issue: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)  # as reviewed for the KB
    case_resolution: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    case_doc_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    promoted_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class FollowUp(Base):
    """The follow-up call (回访) after a complaint is resolved: its own task, due date and outcome."""

    __tablename__ = "follow_ups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    note: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    done_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SpotCheck(Base):
    """One conversation drawn for a spot check (事后抽查) and its grades on the rubric."""

    __tablename__ = "spot_checks"
    __table_args__ = (UniqueConstraint("sample", "interaction_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sample: Mapped[str] = mapped_column(String(40), index=True)
    interaction_id: Mapped[int] = mapped_column(ForeignKey("interactions.id", ondelete="CASCADE"), index=True)
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    drawn_by: Mapped[str] = mapped_column(String(100))
    drawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    accurate: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    complete: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    polite: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    compliant: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    comment: Mapped[str | None] = mapped_column(EncryptedText, nullable=True)
    graded_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    graded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
