"""mirror: a digest of the platform record each mirrored row was mapped from

A re-read record that is byte for byte what the mirror was last given need not be mapped again: the Merge
walk asks the mirror which of a page's records it holds as they are (`providers.records.raw_digest`) and maps
only the others. Rows mirrored before this revision have no digest and are mapped once more when next read.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-27 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("remote_contacts", sa.Column("raw_digest", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("remote_contacts", "raw_digest")
