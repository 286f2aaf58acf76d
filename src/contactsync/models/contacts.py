"""Both sides of the sync: the application's own contacts and the mirror of each connection's remote ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from contactsync.models.base import Base, TenantScoped, created_at_column, utcnow
from contactsync.states import AppContactStatus

__all__ = ["AppContact", "AppContactStatus", "ContactKey", "RemoteContact"]


class AppContact(TenantScoped, Base):
    """A contact as the application knows it, by the application's own id. `data` is canonical content.

    `edited_at` is the app's own edit time as it came with the data (None when unknown: an import time is not an
    edit time). `stated` holds a digest of each field as the app last stated it, so a replayed import that repeats
    an old value does not count as a change; `unknown_fields` are the synced fields the app never stated.
    `taken_in` records, per field, when the platform's value last reached this contact (`v`: the contact version
    it made, `at`: the time), so that a later statement by the app can be told apart as an edit or a stale copy.
    `edited_fields` records, per field, the version the app's last edit of it made, so that planning sees an edit
    and its undo between two runs as an edit (`sync.planning.FieldBaseline`).
    """

    __tablename__ = "app_contacts"
    __table_args__ = (UniqueConstraint("tenant_id", "app_id"),)

    # Not indexed alone: the unique (tenant, app id) index serves a look-up by tenant (migration 0016).
    tenant_id: Mapped[str] = mapped_column(String(64))

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    deleted: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    stated: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    unknown_fields: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    taken_in: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    edited_fields: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    status: Mapped[str] = mapped_column(
        String(32), default=AppContactStatus.ACTIVE, server_default=AppContactStatus.ACTIVE.value
    )
    created_at: Mapped[datetime] = created_at_column()


class ContactKey(TenantScoped, Base):
    """The matcher's blocking keys of one app contact, rewritten whenever the contact changes, so a reconcile
    task finds a page's candidates with one indexed query instead of rebuilding an index per page. A deleted
    contact holds none (`store.contacts.drop_keys`)."""

    __tablename__ = "contact_keys"
    __table_args__ = (Index("ix_contact_keys_tenant_key", "tenant_id", "key"),)

    # Not indexed alone: the (tenant, key) index serves a look-up by tenant, and a second index tempted the planner
    # with stale statistics into reading every key of a tenant for one page's candidates (migration 0013).
    tenant_id: Mapped[str] = mapped_column(String(64))

    app_contact_id: Mapped[int] = mapped_column(ForeignKey("app_contacts.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)


class RemoteContact(TenantScoped, Base):
    """The local mirror of one remote contact. `raw` keeps what the platform sent; `data` the canonical form."""

    __tablename__ = "remote_contacts"
    __table_args__ = (
        UniqueConstraint("connection_id", "remote_id"),
        # The mirrored contacts no reconcile has looked at yet, by connection: a handful at any time, so the index
        # stays small, and a row leaves it (no new index entry) when reconcile clears the flag (migration 0016).
        # Written as the queries write it (`IS TRUE`): the planner uses a partial index only for a condition it
        # can prove implies the index's own, and it does not equate `IS TRUE` with the bare column.
        Index("ix_remote_contacts_pending", "connection_id", postgresql_where=text("needs_reconcile IS TRUE")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Not indexed alone: the unique (connection, remote id) index serves a look-up by connection (migration 0016).
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    remote_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]
    raw: Mapped[dict[str, Any] | None]
    # `providers.records.raw_digest` of `raw` when the row holds exactly what mapping `raw` gives; None once
    # anything else changed the row (a deletion inferred from a walk): such a row's record is always mapped.
    raw_digest: Mapped[str | None] = mapped_column(String(32))
    content_hash: Mapped[str] = mapped_column(String(64))
    deleted: Mapped[bool] = mapped_column(default=False)
    remote_updated_at: Mapped[datetime | None]
    modified_at: Mapped[datetime | None]
    # Set when the content changed and the matcher has not looked at it since; cleared by reconcile.
    needs_reconcile: Mapped[bool] = mapped_column(default=True)
    first_seen_at: Mapped[datetime] = created_at_column()
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
