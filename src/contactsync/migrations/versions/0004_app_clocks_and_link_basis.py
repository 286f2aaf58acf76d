"""app clocks, stated fields and status; link basis, per-field baseline and end; review reason

Revision ID: 0004
Revises: 0009
Create Date: 2026-11-25 17:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("app_contacts", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "app_contacts",
        sa.Column("stated", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
    )
    op.add_column(
        "app_contacts",
        sa.Column("unknown_fields", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
    )
    op.add_column("app_contacts", sa.Column("status", sa.String(length=32), server_default="active", nullable=False))
    op.add_column("links", sa.Column("basis", sa.String(length=16), server_default="score", nullable=False))
    op.add_column("links", sa.Column("baseline", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("links", sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("links", sa.Column("end_reason", sa.Text(), nullable=True))
    op.add_column("review_items", sa.Column("reason", sa.String(length=32), server_default="match", nullable=False))
    # Existing links: a person's decision and our own creates are confirmed; everything else is a score until a
    # matching valid tax id shows otherwise (planning checks that on every run).
    op.execute("UPDATE links SET basis = 'person' WHERE method = 'person'")
    op.execute("UPDATE links SET basis = 'created' WHERE method = 'created'")


def downgrade() -> None:
    op.drop_column("review_items", "reason")
    op.drop_column("links", "end_reason")
    op.drop_column("links", "ended_at")
    op.drop_column("links", "baseline")
    op.drop_column("links", "basis")
    op.drop_column("app_contacts", "status")
    op.drop_column("app_contacts", "unknown_fields")
    op.drop_column("app_contacts", "stated")
    op.drop_column("app_contacts", "edited_at")
