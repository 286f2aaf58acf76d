"""write ops: the app contact's version a create sends

A create's link took the app's version when its answer was recorded, not the one it sent: an app edit made and
undone while the create was under way (EUR, GBP, EUR) then looked older than the link and lost to a platform
edit made in between. The entry keeps the version of the document it sends.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-28 00:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("write_ops", sa.Column("app_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("write_ops", "app_version")
