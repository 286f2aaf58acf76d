"""walk notes: what a walk notes for its later pages, outside the page token

A Maesn walk on `/customers` + `/suppliers` scans the suppliers first and must know, on every later page, which
contacts are suppliers. It kept their ids in the page token, which is written with every page: a full walk of a
big tenant wrote a token the size of its supplier list once per page (quadratic in the tenant). The notes are rows
written in the page's transaction instead.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-29 07:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "walk_notes",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("sync_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("remote_id", sa.String(255), primary_key=True),
        sa.Column("connection_id", sa.Integer(), sa.ForeignKey("connections.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tenant_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_walk_notes_connection_id", "walk_notes", ["connection_id"])
    op.create_index("ix_walk_notes_tenant_id", "walk_notes", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("walk_notes")
