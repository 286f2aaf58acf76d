"""Starting the runs of due tenants in bulk: one statement finds a batch of them, one more opens their runs.

A run's row is its tenant's lease (the partial unique index on active runs, see `models.runs.SyncRun`). The bulk
insert names that index in its `ON CONFLICT ... DO NOTHING`, so a tenant whose run another beat (or a webhook)
opened meanwhile is skipped, not started twice: PostgreSQL makes the later insert wait for the earlier
transaction and then drop the row. Only the rows the insert returns were started here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from contactsync import db
from contactsync.logs import get_logger
from contactsync.models import ACTIVE_RUN_STATES, Connection, RunStatus, SyncCursor, SyncRun, Tenant
from contactsync.settings import get_settings
from contactsync.states import ConnectionStatus

log = get_logger(__name__)


@dataclass(frozen=True)
class Started:
    tenant_id: str
    run_id: int


def start_due_batch(
    s: Session, now: datetime, *, limit: int, trigger: str, tenant_id: str | None = None
) -> tuple[int, list[Started]]:
    """Open runs for up to `limit` due tenants without an active run: (how many were due, the runs started).

    Tenants with an active run are left out of the batch, so a long run never takes a place a due tenant needs
    (and a tick's next batch moves on to other tenants). A tenant without a cursor yet starts full, as
    `store.runs.start_run` decides: the cursor row itself is created by the fetch that first needs it.
    """
    active = select(SyncRun.id).where(SyncRun.tenant_id == Tenant.id, SyncRun.status.in_(ACTIVE_RUN_STATES)).exists()
    query = (
        select(Connection.id, Connection.tenant_id, SyncCursor.watermark, SyncCursor.last_full_at)
        .join(Tenant, Tenant.id == Connection.tenant_id)
        .outerjoin(SyncCursor, SyncCursor.connection_id == Connection.id)
        .where(
            Tenant.paused.is_(False),
            Connection.status == ConnectionStatus.ACTIVE,
            or_(Tenant.next_sync_at.is_(None), Tenant.next_sync_at <= now),
            ~active,
        )
        .order_by(Tenant.next_sync_at.nulls_first(), Tenant.id)
        .limit(limit)
        # The batch's tenant rows are share-locked until its runs commit: a pause (or any change of the row)
        # committed before then waits for the runs, which it then sees, and a pause under way holds the batch
        # back, which then reads the row paused and leaves it out. Without the lock a pause could return while a
        # tick that read the tenant as not paused was still to insert its run: the run started after the pause
        # that promised none would.
        .with_for_update(read=True, of=Tenant)
    )
    if tenant_id is not None:
        query = query.where(Tenant.id == tenant_id)
    due = s.execute(query).all()
    if not due:
        return 0, []
    full_before = now - timedelta(seconds=get_settings().full_sync_interval_seconds)
    rows = [
        {
            "tenant_id": tid,
            "connection_id": conn_id,
            "kind": "incremental" if watermark is not None and last_full is not None and last_full >= full_before
            else "full",
            "status": RunStatus.FETCHING,
            "trigger": trigger,
        }
        for conn_id, tid, watermark, last_full in due
    ]  # fmt: skip
    inserted = s.execute(
        pg_insert(SyncRun)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[SyncRun.tenant_id], index_where=SyncRun.status.in_(ACTIVE_RUN_STATES))
        .returning(SyncRun.id, SyncRun.tenant_id, SyncRun.connection_id, SyncRun.kind)
    ).all()
    started = [Started(tid, run_id) for run_id, tid, _conn, _kind in inserted]

    def logged() -> None:
        for run_id, tid, conn_id, kind in inserted:
            log.info("run started", kind=kind, trigger=trigger, tenant_id=tid, run_id=run_id, connection_id=conn_id)

    db.on_commit(s, logged)
    return len(due), started
