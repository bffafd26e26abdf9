"""The schema of router-ext 0.1.0, exactly as SQLModel's create_all made it.

Databases created before migrations existed have these tables and no alembic_version; they are
stamped with this revision after their tables are checked (router_ext.store.schema).

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# INTEGER on SQLite so the id is the rowid; BIGSERIAL on PostgreSQL.
ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PENDING_ONLY = sa.text("hitl_status IS NOT NULL")


def _events() -> None:
    op.create_table(
        "events",
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True, nullable=False),
        sa.Column("event_uid", sa.String(length=128), nullable=False),
        sa.Column("source_app", sa.String(length=256), nullable=False),
        sa.Column("session_id", sa.String(length=256), nullable=False),
        sa.Column("hook_event_type", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=True),
        sa.Column("chat", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("human_in_the_loop", sa.Text(), nullable=True),
        sa.Column("human_in_the_loop_status", sa.Text(), nullable=True),
        sa.Column("hitl_status", sa.String(length=32), nullable=True),
        sa.Column("host", sa.String(length=256), nullable=True),
        sa.Column("agent_id", sa.String(length=256), nullable=True),
        sa.Column("tool_name", sa.String(length=256), nullable=True),
        sa.Column("tool_use_id", sa.String(length=256), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.UniqueConstraint("event_uid"),
    )
    op.create_index("ix_events_source_app_id", "events", ["source_app", "id"])
    op.create_index("ix_events_session_id_id", "events", ["session_id", "id"])
    op.create_index("ix_events_hook_event_type_id", "events", ["hook_event_type", "id"])
    op.create_index("ix_events_tool_name_id", "events", ["tool_name", "id"])
    op.create_index("ix_events_agent_id", "events", ["agent_id"])
    op.create_index("ix_events_timestamp", "events", ["timestamp"])
    op.create_index("ix_events_hitl_pending", "events", ["hitl_status"],
                    sqlite_where=PENDING_ONLY, postgresql_where=PENDING_ONLY)


def _sessions() -> None:
    zero = "0"  # rendered as DEFAULT '0', as create_all did
    op.create_table(
        "harness_sessions",
        sa.Column("id", sa.String(length=300), primary_key=True, nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("source_app", sa.String(length=256), nullable=True),
        sa.Column("project", sa.String(length=512), nullable=True),
        sa.Column("label", sa.String(length=256), nullable=True),
        sa.Column("task_id", sa.String(length=256), nullable=True),
        sa.Column("task_title", sa.Text(), nullable=True),
        sa.Column("loop_id", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("completed_at", sa.BigInteger(), nullable=True),
        sa.Column("last_event_at", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("tool_calls_count", sa.Integer(), nullable=False),
        sa.Column("tool_failures_count", sa.Integer(), nullable=False),
        sa.Column("prompts_count", sa.Integer(), nullable=False),
        sa.Column("subagents_count", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), server_default=zero, nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), server_default=zero, nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), server_default=zero, nullable=False),
        sa.Column("cache_creation_tokens", sa.BigInteger(), server_default=zero,
                  nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("model_usage", sa.Text(), nullable=True),
        sa.Column("num_turns", sa.Integer(), nullable=True),
        sa.Column("claude_session_id", sa.String(length=256), nullable=True),
    )
    for name, columns in (
        ("ix_harness_sessions_started_at", ["started_at"]),
        ("ix_harness_sessions_last_event_at", ["last_event_at"]),
        ("ix_harness_sessions_source_started", ["source", "started_at"]),
        ("ix_harness_sessions_project", ["project"]),
        ("ix_harness_sessions_label", ["label"]),
        ("ix_harness_sessions_status", ["status"]),
        ("ix_harness_sessions_claude_session_id", ["claude_session_id"]),
    ):
        op.create_index(name, "harness_sessions", columns)


def upgrade() -> None:
    """Create both tables and every index."""
    _events()
    _sessions()


def downgrade() -> None:
    """Drop both tables (and with them every event and session)."""
    op.drop_table("harness_sessions")
    op.drop_table("events")
