"""harness_sessions: who, where and what Claude Code's telemetry reports.

The user, organization, host and terminal from OpenTelemetry resources, the counts only the
OTLP export reports (API requests and errors, lines, commits, pull requests, active time), and
each source's own totals (`source_totals`, JSON) of which the shown numbers are the largest.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TEXT_COLUMNS = (("user_email", 320), ("user_account_uuid", 64), ("organization_id", 64),
                ("host", 256), ("terminal", 64))
COUNT_COLUMNS = ("api_requests_count", "api_errors_count", "lines_added", "lines_removed",
                 "commits_count", "pull_requests_count")
INDEX = "ix_harness_sessions_user_email"


def upgrade() -> None:
    """Add the attribution and telemetry columns (existing rows: empty and zero)."""
    with op.batch_alter_table("harness_sessions", schema=None) as batch_op:
        for name, length in TEXT_COLUMNS:
            batch_op.add_column(sa.Column(name, AutoString(length=length), nullable=True))
        for name in COUNT_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default="0",
                                          nullable=False))
        batch_op.add_column(sa.Column("active_seconds", sa.Float(), server_default="0",
                                      nullable=False))
        batch_op.add_column(sa.Column("source_totals", sa.Text(), nullable=True))
        batch_op.create_index(INDEX, ["user_email"], unique=False)


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("harness_sessions", schema=None) as batch_op:
        batch_op.drop_index(INDEX)
        for name in ("source_totals", "active_seconds", *reversed(COUNT_COLUMNS),
                     *(n for n, _ in reversed(TEXT_COLUMNS))):
            batch_op.drop_column(name)
