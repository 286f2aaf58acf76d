"""match labels and models: review decisions kept as labelled pairs, each tenant's fitted matching model

Revision ID: 0009
Revises: 0002
Create Date: 2026-11-25 18:25:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_item_id", sa.Integer(), nullable=False),
        sa.Column("app_contact_id", sa.Integer(), nullable=False),
        sa.Column("same", sa.Boolean(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column(
            "levels", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_contact_id"],
            ["app_contacts.id"],
            name=op.f("fk_match_labels_app_contact_id_app_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_items.id"],
            name=op.f("fk_match_labels_review_item_id_review_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_labels")),
    )
    op.create_index(op.f("ix_match_labels_review_item_id"), "match_labels", ["review_item_id"], unique=False)
    op.create_index(op.f("ix_match_labels_tenant_id"), "match_labels", ["tenant_id"], unique=False)
    op.create_table(
        "match_models",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column(
            "model", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("calibrated", sa.Boolean(), nullable=False),
        sa.Column("person_share", sa.Float(), nullable=False),
        sa.Column("app_records", sa.Integer(), nullable=False),
        sa.Column("remote_records", sa.Integer(), nullable=False),
        sa.Column("fitted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_match_models_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_match_models")),
    )


def downgrade() -> None:
    op.drop_table("match_models")
    op.drop_index(op.f("ix_match_labels_tenant_id"), table_name="match_labels")
    op.drop_index(op.f("ix_match_labels_review_item_id"), table_name="match_labels")
    op.drop_table("match_labels")
