"""app contacts: when each field last took the platform's value in

An app that applied the changes feed and then edits a field back to a value it once stated must win; an app
that sends a stale copy that never took the platform's value in must not. Telling the two apart needs to know,
per field, the contact version and time at which the platform's value reached the app contact.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 03:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "app_contacts",
        sa.Column("taken_in", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
    )


def downgrade() -> None:
    op.drop_column("app_contacts", "taken_in")
