"""Hourly rollups of pruned events, so retention keeps the dashboard's counts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create event_rollups."""
    op.create_table(
        "event_rollups",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("detail", sa.String(length=128), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "bucket_ms", "name", "detail"),
    )


def downgrade() -> None:
    """Drop event_rollups (the counts of pruned events go with it)."""
    op.drop_table("event_rollups")
