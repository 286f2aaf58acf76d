"""runs: whether the run's writes are all planned

Planning commits a run's creates before it plans its linked pairs, so that the creates are sent meanwhile. A
write batch that settles the last of those creates must not end the run before the pairs are planned: the run
ends only once `writes_planned` is set again, by the planning that completes.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-28 04:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # True by default: runs of the previous release, planned in one transaction, and their workers, still running
    # during a rolling upgrade, insert runs without the column. (A write batch of that release does not read it:
    # until the upgrade is done, such a batch may end a run before its pairs are planned; the next run plans them.)
    op.add_column(
        "sync_runs", sa.Column("writes_planned", sa.Boolean(), nullable=False, server_default=sa.text("true"))
    )


def downgrade() -> None:
    op.drop_column("sync_runs", "writes_planned")
