"""tenants: review sessions can be revoked

A review session is a signed token, checked without any server-side state. To take back a leaked link (or a
person's access) before it expires, each tenant keeps the moment up to which its issued sessions are refused.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 06:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("review_sessions_revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("tenants", "review_sessions_revoked_at")
