"""Decisions of the reconciler: links between the two sides, and the unsure cases waiting for a person."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from contactsync.models.base import Base, TenantScoped, created_at_column, utcnow
from contactsync.states import ReviewStatus, sql_in


class Link(TenantScoped, Base):
    """App contact <-> remote contact, one-to-one (both unique). The synced hashes record each side's content
    at the last sync, which is how a later run tells which side changed."""

    __tablename__ = "links"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_contact_id: Mapped[int] = mapped_column(ForeignKey("app_contacts.id", ondelete="CASCADE"), unique=True)
    remote_contact_id: Mapped[int] = mapped_column(ForeignKey("remote_contacts.id", ondelete="CASCADE"), unique=True)
    # exact | fuzzy | person | created
    method: Mapped[str] = mapped_column(String(32))
    score: Mapped[float]
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # engine | person | writer
    decided_by: Mapped[str] = mapped_column(String(32))
    # sync.planning.LinkBasis: how the link was made or last confirmed; identity fields only change on a confirmed one.
    basis: Mapped[str] = mapped_column(String(16), default="score", server_default="score")
    app_synced_hash: Mapped[str | None] = mapped_column(String(64))
    remote_synced_hash: Mapped[str | None] = mapped_column(String(64))
    # sync.planning.FieldBaseline as JSON: each field's digest on both sides at the last sync.
    baseline: Mapped[dict[str, Any] | None]
    # Set when the platform contact was deleted: the pair stays recorded (so nothing recreates it) but is inert.
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReviewItem(TenantScoped, Base):
    """A remote contact the engine would not decide alone, with its candidates and their explanations."""

    __tablename__ = "review_items"
    __table_args__ = (
        Index(
            "uq_review_items_open_remote",
            "remote_contact_id",
            unique=True,
            postgresql_where=text(sql_in("status", [ReviewStatus.OPEN])),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    remote_contact_id: Mapped[int] = mapped_column(ForeignKey("remote_contacts.id", ondelete="CASCADE"))
    # [{"app_contact_id": int, "score": float, "explanation": {...}}, ...] best first
    candidates: Mapped[list[Any]]
    # match (which app contact is this?) | tax_id_conflict (a linked pair whose valid tax ids differ)
    reason: Mapped[str] = mapped_column(String(32), default="match", server_default="match")
    # a ReviewStatus
    status: Mapped[str] = mapped_column(String(16), default=ReviewStatus.OPEN, index=True)
    resolved_by: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class MatchLabel(TenantScoped, Base):
    """A candidate pair a person decided (same contact or not), with the comparison levels the engine saw:
    the examples the tenant's matching model is re-fitted from (`contactsync.matching.learn`)."""

    __tablename__ = "match_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"), index=True)
    app_contact_id: Mapped[int] = mapped_column(ForeignKey("app_contacts.id", ondelete="CASCADE"))
    same: Mapped[bool]
    weight: Mapped[float]
    levels: Mapped[list[Any]]
    created_at: Mapped[datetime] = created_at_column()


class MatchModel(Base):
    """A tenant's matching model fitted to its own data (`matching.tenantfit`), and the sizes it was fitted at,
    so that it is fitted again only when the tenant's books have changed enough (`store.matchmodel`). What
    reviewers taught (`MatchLabel`) is applied on top of it when it is loaded."""

    __tablename__ = "match_models"

    tenant_id: Mapped[str] = mapped_column(String(64), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[dict[str, Any]]
    calibrated: Mapped[bool]
    person_share: Mapped[float]
    app_records: Mapped[int]
    remote_records: Mapped[int]  # the platform's live records without the copies our creates made
    fitted_at: Mapped[datetime] = created_at_column()
