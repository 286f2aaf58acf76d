"""Sync runs, their pages, the per-connection incremental cursor, and quarantined records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from contactsync.models.base import Base, TenantScoped, created_at_column
from contactsync.states import ACTIVE_RUN_STATES, RunStatus, sql_in

__all__ = [
    "ACTIVE_RUN_STATES",
    "RUN_COUNTERS",
    "QuarantinedRecord",
    "RunPage",
    "RunStatus",
    "SyncCursor",
    "SyncRun",
    "WalkNote",
]


# Counters a run accumulates; tasks on different workers add to them with atomic UPDATEs.
RUN_COUNTERS = (
    "fetched",
    "mirrored",
    "quarantined",
    "linked",
    "reviewed",
    "created_remote",
    "updated_remote",
    "updated_app",
    "conflicts",
    "write_errors",
    "parked",
    "api_calls",
    "walk_restarts",
)


class SyncRun(TenantScoped, Base):
    """One sync of one connection. At most one active run per tenant (a partial unique index): that is the
    tenant's lease, held by the database so it survives any worker's death."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index(
            "uq_sync_runs_active_tenant",
            "tenant_id",
            unique=True,
            postgresql_where=text(sql_in("status", ACTIVE_RUN_STATES)),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    # full | incremental
    kind: Mapped[str] = mapped_column(String(16))
    # a RunStatus; changed only by `store.runs.transition_run`
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.FETCHING)
    trigger: Mapped[str] = mapped_column(String(32), default="schedule")
    window_after: Mapped[datetime | None]
    window_before: Mapped[datetime | None]
    page_token: Mapped[dict[str, Any] | None]
    pages_fetched: Mapped[int] = mapped_column(default=0)
    max_modified_at: Mapped[datetime | None]
    fetched: Mapped[int] = mapped_column(default=0)
    # Of the records fetched, those the walk wrote to the mirror (new or changed): most of a re-read is neither.
    mirrored: Mapped[int] = mapped_column(default=0, server_default="0")
    quarantined: Mapped[int] = mapped_column(default=0)
    linked: Mapped[int] = mapped_column(default=0)
    reviewed: Mapped[int] = mapped_column(default=0)
    created_remote: Mapped[int] = mapped_column(default=0)
    updated_remote: Mapped[int] = mapped_column(default=0)
    updated_app: Mapped[int] = mapped_column(default=0)
    conflicts: Mapped[int] = mapped_column(default=0)
    write_errors: Mapped[int] = mapped_column(default=0)
    # Creates whose answer was lost and that wait, parked, for evidence when the run ended.
    parked: Mapped[int] = mapped_column(default=0)
    api_calls: Mapped[int] = mapped_column(default=0)
    # Times the walk went back over rows it had read (`Page.restarted`): a refused cursor, rows moving under it.
    walk_restarts: Mapped[int] = mapped_column(default=0, server_default="0")
    # False from when planning commits the run's creates (sent at once) until it has planned the linked pairs too:
    # the run does not end in between, however soon its creates are done (`tasks.plan`).
    writes_planned: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = created_at_column()
    heartbeat_at: Mapped[datetime] = created_at_column()
    finished_at: Mapped[datetime | None]


class RunPage(TenantScoped, Base):
    """A fetched page waiting for (or done with) its reconcile task; the last one done moves the run on."""

    __tablename__ = "run_pages"

    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"), primary_key=True)
    page_no: Mapped[int] = mapped_column(primary_key=True)
    remote_contact_ids: Mapped[list[Any]]
    reconciled: Mapped[bool] = mapped_column(default=False)


class WalkNote(TenantScoped, Base):
    """A remote id a walk noted under a name (a Maesn split walk: the suppliers it scanned, the contacts in both
    lists), for its later pages. Written in the transaction of the page that noted it, as the page token is, so a
    walk resumed after a crash knows exactly what its recorded pages noted; kept out of the token, which is written
    again with every page and would grow with the tenant. A run's notes go when its walk completes, and those of a
    connection's earlier runs when a new walk records its first page."""

    __tablename__ = "walk_notes"

    run_id: Mapped[int] = mapped_column(ForeignKey("sync_runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    remote_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)


class SyncCursor(TenantScoped, Base):
    """Where the next incremental walk starts, on the provider's clock. Only a completed walk moves it."""

    __tablename__ = "sync_cursors"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)
    watermark: Mapped[datetime | None]
    last_full_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = created_at_column()


class QuarantinedRecord(TenantScoped, Base):
    """A remote record that broke the contract, kept with the reason so nothing is lost silently."""

    __tablename__ = "quarantine"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="SET NULL"))
    remote_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    excerpt: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
