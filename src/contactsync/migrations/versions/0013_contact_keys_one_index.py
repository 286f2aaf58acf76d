"""contact keys: one index, by tenant and key

A second index on the tenant alone duplicated the leading column of the (tenant, key) index. With statistics
taken before a tenant's import (a fresh tenant, a big first sync), the planner took it for a page's candidate
look-up and filtered every key of the tenant for a page's few hundred; with only the (tenant, key) index there
is nothing else to choose, and anything that asks by tenant alone uses its leading column.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-25 23:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_contact_keys_tenant_id", table_name="contact_keys")


def downgrade() -> None:
    op.create_index("ix_contact_keys_tenant_id", "contact_keys", ["tenant_id"], unique=False)
