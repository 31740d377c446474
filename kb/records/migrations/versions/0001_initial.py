"""Initial records schema: users, api_keys, interactions, feedback, qa_sets, qa_items,
eval_runs, eval_results, audit_events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False, index: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, index=index)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        _ts("created_at"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("prefix", sa.String(20), nullable=False, index=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False),
        _ts("created_at"),
        _ts("last_used_at", nullable=True),
    )
    op.create_table(
        "interactions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("citations", sa.JSON, nullable=False),
        sa.Column("flags", sa.JSON, nullable=False),
        sa.Column("mode", sa.String(30), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("abstained", sa.Boolean, nullable=False),
        sa.Column("kind", sa.String(30), nullable=True),
        sa.Column("product", sa.String(100), nullable=True),
        sa.Column("snapshot_id", sa.String(100), nullable=True),
        sa.Column("settings_hash", sa.String(64), nullable=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("api_key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="SET NULL"), nullable=True),
        _ts("created_at", index=True),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("interaction_id", sa.Integer, sa.ForeignKey("interactions.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("edited_reply", sa.Text, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("actor", sa.String(100), nullable=True),
        _ts("created_at"),
    )
    op.create_table(
        "qa_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("author", sa.String(100), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
    )
    op.create_table(
        "qa_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("qaset_id", sa.Integer, sa.ForeignKey("qa_sets.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("ext_id", sa.String(100), nullable=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("reference_answer", sa.Text, nullable=False),
        sa.Column("key_points", sa.JSON, nullable=False),
        sa.Column("expected_sources", sa.JSON, nullable=False),
        sa.Column("answerable", sa.Boolean, nullable=False),
        sa.Column("topic", sa.String(100), nullable=True),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("author", sa.String(100), nullable=True),
        sa.Column("reviewed", sa.String(100), nullable=True),
        sa.Column("grades", sa.JSON, nullable=False),
        sa.Column("source_interaction_id", sa.Integer,
                  sa.ForeignKey("interactions.id", ondelete="SET NULL"), nullable=True),
        _ts("created_at"),
    )
    op.create_table(
        "eval_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("set_name", sa.String(200), nullable=False, index=True),
        sa.Column("qaset_id", sa.Integer, sa.ForeignKey("qa_sets.id", ondelete="SET NULL"), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("overall", sa.JSON, nullable=False),
        sa.Column("per_topic", sa.JSON, nullable=False),
        sa.Column("snapshot_id", sa.String(100), nullable=True),
        sa.Column("settings_hash", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(100), nullable=True),
        _ts("created_at"),
        _ts("finished_at", nullable=True),
    )
    op.create_table(
        "eval_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("eval_runs.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("topic", sa.String(100), nullable=True),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("actor", sa.String(100), nullable=False, index=True),
        sa.Column("action", sa.String(60), nullable=False, index=True),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        _ts("at", index=True),
    )


def downgrade() -> None:
    for table in ("audit_events", "eval_results", "eval_runs", "qa_items", "qa_sets", "feedback",
                  "interactions", "api_keys", "users"):
        op.drop_table(table)
