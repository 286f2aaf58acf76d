"""The write ledger: every create/update contactsync sends to a platform, with its state.

A create's `op_key` is derived from the app contact alone (`create:<app contact id>`) and is unique per
connection, so however often planning runs or a task is redelivered, there is one ledger row per contact, and
its state tells a retry whether an earlier attempt may already have reached the platform.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from contactsync.models.base import Base, TenantScoped, created_at_column, utcnow
from contactsync.states import ACTIVE_WRITE_STATES, MAYBE_SENT_STATES, OPEN_WRITE_STATES, WriteState

if TYPE_CHECKING:
    from contactsync.models.contacts import AppContact

__all__ = ["ACTIVE_WRITE_SQL", "ACTIVE_WRITE_STATES", "MAYBE_SENT_STATES", "OPEN_WRITE_STATES", "WriteOp", "WriteState"]

# The active states as SQL with the values written out: the partial index of active entries serves only queries
# whose condition the planner can prove implies its own, which a list of bound parameters does not.
ACTIVE_WRITE_SQL = f"status IN ({', '.join(repr(str(s)) for s in ACTIVE_WRITE_STATES)})"


class WriteOp(TenantScoped, Base):
    __tablename__ = "write_ops"
    __table_args__ = (
        UniqueConstraint("connection_id", "op_key"),
        # Every write batch asks whether its run still has entries open; the ledger keeps every entry ever sent,
        # so the question must not grow with it.
        Index(
            "ix_write_ops_active_connection",
            "connection_id",
            postgresql_where=text(ACTIVE_WRITE_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Not indexed alone: the unique (connection, op key) index serves a look-up by connection (migration 0016).
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_runs.id", ondelete="SET NULL"), index=True)
    op_key: Mapped[str] = mapped_column(String(255))
    # create | update
    kind: Mapped[str] = mapped_column(String(16))
    app_contact_id: Mapped[int] = mapped_column(ForeignKey("app_contacts.id", ondelete="CASCADE"))
    remote_id: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]]
    # A create's: the app contact's version its payload was read at (None for an update, and for creates planned
    # before it was kept): the version the created link's baseline is taken at, whenever its answer comes.
    app_version: Mapped[int | None]
    idempotency_key: Mapped[str] = mapped_column(String(64))
    # a WriteState
    status: Mapped[str] = mapped_column(String(16), default=WriteState.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    # Our clock just before the first request went out: the window a walk must cover, after the platform's
    # visibility lag, before the absence of a create whose answer was lost means anything.
    first_sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def sent_app_version(self, app: AppContact) -> int | None:
        """The app version a create sent, given its app contact now: kept by the entry; for an entry planned before
        it was kept, the app's version only while the app still holds what was sent (else None: the link's baseline
        then judges the app side by its digests, and an edit made since is not taken as synced). The app's data is
        read only then: a writer loads its app contacts without it."""
        if self.app_version is not None:
            return self.app_version
        return app.version if app.data == self.payload else None
