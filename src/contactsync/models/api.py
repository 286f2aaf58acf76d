"""What the HTTP API keeps: hashed API keys, and the durable per-tenant changes feed with its counter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from contactsync.models.base import Base, created_at_column


class ApiKey(Base):
    """An API key, stored as its SHA-256 only. `tenant_id` NULL means an admin key (every tenant)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The key's first characters, shown in listings so an operator can tell keys apart without the secret.
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64), index=True)
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    revoked_at: Mapped[datetime | None]


class ChangeCounter(Base):
    """The last sequence number handed out in a tenant's changes feed (see `store.changes` for why a row)."""

    __tablename__ = "change_counters"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Change(Base):
    """One thing the app must apply to keep its tables up to date, numbered per tenant without gaps."""

    __tablename__ = "changes"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # fields_changed | platform_only | archived | deleted | linked | remote_id_assigned
    kind: Mapped[str] = mapped_column(String(32))
    app_id: Mapped[str | None] = mapped_column(String(255))
    remote_id: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = created_at_column()


class PushTarget(Base):
    """Where changes are POSTed as they happen: one tenant's (`tenant_id`) or every tenant's (NULL)."""

    __tablename__ = "push_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(Text)
    # The signing secret, sealed like connection credentials (see `crypto.Vault`).
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_at_column()


class PushCursor(Base):
    """The last change delivered to a target for a tenant; its row lock keeps one delivery at a time per pair,
    which is what keeps them in sequence order."""

    __tablename__ = "push_cursors"

    target_id: Mapped[int] = mapped_column(ForeignKey("push_targets.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    delivered_seq: Mapped[int] = mapped_column(BigInteger, default=0)
