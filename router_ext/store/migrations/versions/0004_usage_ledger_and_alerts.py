"""The usage ledger (what reports sum) and alert rules and episodes.

The ledger is written by the sessions fold from now on; existing sessions get one row per
counted session and model, dated by their last event, so reports from the server cover the
history from before this revision too. A session run by a Ralph task or job (`loop_id` set) is
left out, as the fold leaves it out: its usage is in the task's row.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LEDGER_INDEXES = (("ix_usage_ledger_at", ["at"]), ("ix_usage_ledger_loop_id_at", ["loop_id", "at"]),
                  ("ix_usage_ledger_project_at", ["project", "at"]),
                  ("ix_usage_ledger_session_id", ["session_id"]))
EPISODE_INDEXES = (("ix_alert_episodes_rule_subject", ["rule_id", "subject", "started_at"]),
                   ("ix_alert_episodes_started_at", ["started_at"]),
                   ("ix_alert_episodes_status", ["status"]))


def _text(length: int) -> AutoString:
    return AutoString(length=length)


def _create_ledger() -> sa.Table:
    table = op.create_table(
        "usage_ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("session_id", _text(300), nullable=False),
        sa.Column("source", _text(32), nullable=False),
        sa.Column("project", _text(512), nullable=True),
        sa.Column("loop_id", _text(256), nullable=True),
        sa.Column("model", _text(256), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_creation_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for name, columns in LEDGER_INDEXES:
        op.create_index(name, "usage_ledger", columns, unique=False)
    assert table is not None
    return table


def _create_alerts() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _text(128), nullable=False),
        sa.Column("kind", _text(32), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("period", _text(16), nullable=True),
        sa.Column("scope", _text(16), nullable=False),
        sa.Column("match", _text(256), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=True),
        sa.Column("min_count", sa.Integer(), nullable=True),
        sa.Column("cooldown_seconds", sa.Integer(), nullable=False),
        sa.Column("stop_ralph", sa.Boolean(), nullable=False),
        sa.Column("webhooks", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("origin", _text(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "alert_episodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("rule_name", _text(128), nullable=False),
        sa.Column("kind", _text(32), nullable=False),
        sa.Column("subject", _text(512), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("resolved_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    for name, columns in EPISODE_INDEXES:
        op.create_index(name, "alert_episodes", columns, unique=False)


def _number(usage: dict[str, Any], key: str) -> float:
    value = usage.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _ledger_rows(sessions: sa.engine.Result[Any]) -> list[dict[str, Any]]:
    rows = []
    for session in sessions:
        try:
            models = json.loads(session.model_usage or "{}")
        except ValueError:
            continue
        for model, usage in (models.items() if isinstance(models, dict) else ()):
            if not isinstance(usage, dict):
                continue
            rows.append({
                "at": int(session.last_event_at or session.started_at or 0),
                "session_id": session.id, "source": session.source,
                "project": session.project, "loop_id": session.loop_id, "model": str(model)[:256],
                "input_tokens": int(_number(usage, "input_tokens")),
                "output_tokens": int(_number(usage, "output_tokens")),
                "cache_read_tokens": int(_number(usage, "cache_read_input_tokens")),
                "cache_creation_tokens": int(_number(usage, "cache_creation_input_tokens")),
                "cost_usd": round(_number(usage, "cost_usd"), 9),
            })
    return rows


def upgrade() -> None:
    """Create the tables, then date every counted session's usage by its last event."""
    ledger = _create_ledger()
    _create_alerts()
    sessions = op.get_bind().execute(sa.text(
        "SELECT id, source, project, loop_id, model_usage, started_at, last_event_at "
        "FROM harness_sessions WHERE model_usage IS NOT NULL "
        "AND NOT (source = 'interactive' AND loop_id IS NOT NULL)"))
    rows = _ledger_rows(sessions)
    if rows:
        op.bulk_insert(ledger, rows)


def downgrade() -> None:
    """Drop them again."""
    for name, _ in EPISODE_INDEXES:
        op.drop_index(name, table_name="alert_episodes")
    op.drop_table("alert_episodes")
    op.drop_table("alert_rules")
    for name, _ in LEDGER_INDEXES:
        op.drop_index(name, table_name="usage_ledger")
    op.drop_table("usage_ledger")
