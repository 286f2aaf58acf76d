"""parked creates: when a create was first sent, and how many a run left parked

Revision ID: 0003
Revises: 0009
Create Date: 2026-11-25 17:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("write_ops", sa.Column("first_sent_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("sync_runs", sa.Column("parked", sa.Integer(), server_default="0", nullable=False))
    # A create already sent whose answer was lost: from now on it waits parked for evidence.
    op.execute("UPDATE write_ops SET first_sent_at = updated_at WHERE status IN ('in_flight', 'uncertain')")


def downgrade() -> None:
    op.execute("UPDATE write_ops SET status = 'uncertain' WHERE status = 'parked'")
    op.drop_column("sync_runs", "parked")
    op.drop_column("write_ops", "first_sent_at")
