"""runs: how many times the walk went back over rows it had read

A walk whose cursor the server refused (an expired cursor, after a crash or a retry's wait) starts again from its
first page; a Maesn walk reads rows again that moved under it. Neither loses or doubles anything, but a platform
that does it on every run costs calls and time, and an operator should see it in the run, not only in a log line.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-29 06:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A server default: runs inserted by workers of the previous release during a rolling upgrade leave it out.
    op.add_column("sync_runs", sa.Column("walk_restarts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("sync_runs", "walk_restarts")
