"""active write ops: a partial index, so whether a run still has writes open is one probe

Revision ID: 0012
Revises: 0006
Create Date: 2026-11-25 20:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_write_ops_active_connection",
        "write_ops",
        ["connection_id"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'in_flight', 'uncertain')"),
    )


def downgrade() -> None:
    op.drop_index("ix_write_ops_active_connection", table_name="write_ops")
