"""runs: how many fetched records the walk wrote to the mirror

`fetched` counts every record a walk read, and most of an incremental walk is records the mirror holds as they
are (the look-back, the contacts the last run created). The run's statistics hint (`store.statistics`) needs
the rows written, not the rows read: counted as read, a re-read of a few thousand unchanged records could pass
autovacuum's rule and have the run ANALYZE a mirror it had not changed before it planned.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-27 16:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # With a server default: workers of the previous release, still running during a rolling upgrade, insert
    # runs without the column.
    op.add_column("sync_runs", sa.Column("mirrored", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("sync_runs", "mirrored")
