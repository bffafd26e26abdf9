"""Hourly dashboard counts kept by the writer (event_counts, session_tool_counts, usage_hourly).

The tables start with a recount of every stored event, plus what retention had already rolled
up into event_rollups (those events are gone; their counts are not); usage_hourly starts as the
usage ledger summed per hour and model. From then on the writer adds each batch in its insert
transaction (router_ext.store.counts, router_ext.store.usage_hourly). The recount uses that
same code, so the two cannot disagree; a later revision that changes these tables must keep it
able to write the columns created here (or copy it into this file).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

from router_ext.store import counts, usage_hourly

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _text(length: int) -> AutoString:
    return AutoString(length=length)


def upgrade() -> None:
    """Create the tables and count what is stored."""
    op.create_table(
        "event_counts",
        sa.Column("kind", _text(32), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", _text(256), nullable=False),
        sa.Column("detail", _text(256), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "bucket_ms", "name", "detail"),
    )
    op.create_table(
        "session_tool_counts",
        sa.Column("bucket_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("session_id", _text(256), nullable=False),
        sa.Column("tool", _text(256), nullable=False),
        sa.Column("outcome", _text(32), nullable=False),
        sa.Column("hooks", sa.BigInteger(), nullable=False),
        sa.Column("otlp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bucket_ms", "session_id", "tool", "outcome"),
    )
    op.create_table(
        "usage_hourly",
        sa.Column("bucket_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("model", _text(256), nullable=False),
        *[sa.Column(name, sa.BigInteger(), nullable=False) for name in usage_hourly.TOKENS],
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("bucket_ms", "model"),
    )
    conn = op.get_bind()
    usage_hourly.backfill(conn)
    counts.backfill(conn)
    rolled = conn.execute(sa.text(
        "SELECT kind, bucket_ms, name, detail, count FROM event_rollups"))
    counts.add_rolled_up(conn, [dict(r._mapping) for r in rolled])


def downgrade() -> None:
    """Drop the counts (the dashboard would count from events again)."""
    op.drop_table("usage_hourly")
    op.drop_table("session_tool_counts")
    op.drop_table("event_counts")
