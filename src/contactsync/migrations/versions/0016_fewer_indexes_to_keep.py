"""mirror, app contacts and ledger: fewer indexes to keep up to date

Every row a sync inserts, and every update that cannot stay on its page, adds an entry to each index of its
table; a full sync writes each mirrored contact several times and each ledger entry three or four. Three
single-column indexes repeated the leading column of a unique index on the same table (the connection of the
mirror and of the ledger, the tenant of the app contacts): a look-up by that column alone uses the unique
index's leading column. The index of `needs_reconcile` held every mirrored row, though only the few a reconcile
has not looked at yet are ever asked for (by connection); a partial index of those rows is small, and a row that
reconcile clears adds no entry to it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 04:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_remote_contacts_connection_id", table_name="remote_contacts")
    op.drop_index("ix_app_contacts_tenant_id", table_name="app_contacts")
    op.drop_index("ix_write_ops_connection_id", table_name="write_ops")
    op.create_index(
        "ix_remote_contacts_pending",
        "remote_contacts",
        ["connection_id"],
        unique=False,
        postgresql_where=sa.text("needs_reconcile IS TRUE"),
    )
    op.drop_index("ix_remote_contacts_needs_reconcile", table_name="remote_contacts")


def downgrade() -> None:
    op.create_index("ix_remote_contacts_needs_reconcile", "remote_contacts", ["needs_reconcile"], unique=False)
    op.drop_index("ix_remote_contacts_pending", table_name="remote_contacts")
    op.create_index("ix_write_ops_connection_id", "write_ops", ["connection_id"], unique=False)
    op.create_index("ix_app_contacts_tenant_id", "app_contacts", ["tenant_id"], unique=False)
    op.create_index("ix_remote_contacts_connection_id", "remote_contacts", ["connection_id"], unique=False)
