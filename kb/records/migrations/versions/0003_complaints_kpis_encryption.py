"""Complaints with follow-up calls, spot checks, agent teams and interaction topics for the
service KPIs; customer narrative encrypted at rest (the questions, replies and feedback already
stored are encrypted here with the records keyring).

Revision ID: complaints_kpis_encryption
Revises: harden_web_sessions
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kb.records.crypto import keyring_of, reencrypt_columns

revision = "complaints_kpis_encryption"
down_revision = "harden_web_sessions"
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False, index: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, index=index)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("team", sa.String(100), nullable=True))
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("topic", sa.String(100), nullable=True))
        batch.add_column(sa.Column("team", sa.String(100), nullable=True))
        batch.create_index("ix_interactions_topic", ["topic"])
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ticket_no", sa.String(40), nullable=True, unique=True),
        sa.Column("status", sa.String(20), nullable=False, index=True),
        sa.Column("topic", sa.String(100), nullable=False, index=True),
        sa.Column("product", sa.String(100), nullable=True),
        sa.Column("department", sa.String(100), nullable=False, index=True),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("signals", sa.JSON, nullable=False),
        sa.Column("amount", sa.Float, nullable=True),
        sa.Column("narrative", sa.Text, nullable=False),
        sa.Column("request", sa.Text, nullable=True),
        sa.Column("procedure_step", sa.Text, nullable=True),
        sa.Column("procedure_source", sa.JSON, nullable=False),
        sa.Column("resolution", sa.Text, nullable=True),
        sa.Column("interaction_id", sa.Integer, sa.ForeignKey("interactions.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                  index=True),
        sa.Column("agent", sa.String(100), nullable=False),
        sa.Column("team", sa.String(100), nullable=True),
        _ts("received_at", index=True),
        _ts("response_due"),
        _ts("resolve_due"),
        sa.Column("extended", sa.Boolean, nullable=False),
        _ts("routed_at", nullable=True),
        _ts("resolved_at", nullable=True),
        _ts("closed_at", nullable=True),
        sa.Column("case_issue", sa.Text, nullable=True),
        sa.Column("case_resolution", sa.Text, nullable=True),
        sa.Column("case_doc_id", sa.String(200), nullable=True),
        sa.Column("promoted_by", sa.String(100), nullable=True),
        _ts("promoted_at", nullable=True),
        _ts("updated_at"),
    )
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("complaint_id", sa.Integer, sa.ForeignKey("complaints.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        _ts("due_at", index=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        _ts("done_at", nullable=True),
        sa.Column("done_by", sa.String(100), nullable=True),
        _ts("created_at"),
    )
    op.create_table(
        "spot_checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sample", sa.String(40), nullable=False, index=True),
        sa.Column("interaction_id", sa.Integer, sa.ForeignKey("interactions.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("criteria", sa.JSON, nullable=False),
        sa.Column("drawn_by", sa.String(100), nullable=False),
        _ts("drawn_at"),
        sa.Column("accurate", sa.Boolean, nullable=True),
        sa.Column("complete", sa.Boolean, nullable=True),
        sa.Column("polite", sa.Boolean, nullable=True),
        sa.Column("compliant", sa.Boolean, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("graded_by", sa.String(100), nullable=True),
        _ts("graded_at", nullable=True),
        sa.UniqueConstraint("sample", "interaction_id"),
    )
    # what was stored in plain text before this revision is encrypted now
    bind = op.get_bind()
    reencrypt_columns(bind, [("interactions", "question"), ("interactions", "answer"),
                             ("feedback", "edited_reply"), ("feedback", "comment")], keyring_of(bind.dialect))


def downgrade() -> None:
    raise NotImplementedError("decrypting the records back to plain text is not offered")
