"""Tenants and their connection to an accounting platform through a unified API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from contactsync.models.base import Base, TenantScoped, created_at_column
from contactsync.states import ConnectionStatus


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    sync_interval_seconds: Mapped[int] = mapped_column(default=900)
    next_sync_at: Mapped[datetime | None] = mapped_column(index=True)
    # Set by a provider webhook; a run that started before it is followed at once by another one.
    sync_requested_at: Mapped[datetime | None]
    paused: Mapped[bool] = mapped_column(default=False)
    # Review-page sessions issued at or before this moment are refused (signed tokens cannot be recalled one by
    # one, so revoking is a line drawn per tenant: a leaked link, a person leaving the tenant's staff).
    review_sessions_revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class Connection(TenantScoped, Base):
    """One tenant's link to its books. Credentials are a Fernet token (see `crypto.Vault`), never plain text."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), unique=True, index=True
    )
    dialect: Mapped[str] = mapped_column(String(32))
    base_url: Mapped[str] = mapped_column(Text)
    credentials: Mapped[bytes] = mapped_column(LargeBinary)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # a ConnectionStatus
    status: Mapped[str] = mapped_column(String(32), default=ConnectionStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
