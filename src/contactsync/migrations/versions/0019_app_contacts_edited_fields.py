"""app contacts: the version each field's last app edit made

A sync sees states: an app edit and its undo between two runs (EUR, GBP, EUR) look like no edit, and a platform
edit made in between won over the app's newer one. Planning compares, per field, the version of the app's last
edit with the app version the link's baseline was taken at.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-27 21:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "app_contacts",
        sa.Column("edited_fields", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("app_contacts", "edited_fields")
