"""Tenant administration for the API: an overview of a tenant's health, credentials rotation, and purging.

Purging walks every table that has a `tenant_id` column, so a table added later is purged too without anyone
remembering to list it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from contactsync.models import Base, Connection, ReviewItem, SyncCursor, SyncRun, Tenant, WriteOp
from contactsync.models.base import utcnow
from contactsync.states import ConnectionStatus, ReviewStatus, RunStatus, WriteState
from contactsync.store.connections import reactivate
from contactsync.store.tenants import vault


@dataclass
class Overview:
    tenant: Tenant
    connection: Connection | None
    last_run: SyncRun | None
    last_success_at: datetime | None
    lag_seconds: float | None
    open_reviews: int
    failed_writes: int


def overview(s: Session, tenant: Tenant) -> Overview:
    conn = s.scalar(select(Connection).where(Connection.tenant_id == tenant.id))
    last_run = s.scalar(select(SyncRun).where(SyncRun.tenant_id == tenant.id).order_by(SyncRun.id.desc()).limit(1))
    last_ok = s.scalar(
        select(func.max(SyncRun.finished_at)).where(
            SyncRun.tenant_id == tenant.id, SyncRun.status == RunStatus.SUCCEEDED
        )
    )
    # Lag: how old the newest platform change we know to have read is (the incremental watermark), else the age
    # of the last successful run; None before the first one.
    cursor = s.get(SyncCursor, conn.id) if conn is not None else None
    since = (cursor.watermark if cursor is not None else None) or last_ok
    return Overview(
        tenant=tenant,
        connection=conn,
        last_run=last_run,
        last_success_at=last_ok,
        lag_seconds=(utcnow() - since).total_seconds() if since is not None else None,
        open_reviews=s.scalar(
            select(func.count())
            .select_from(ReviewItem)
            .where(ReviewItem.tenant_id == tenant.id, ReviewItem.status == ReviewStatus.OPEN)
        )
        or 0,
        failed_writes=s.scalar(
            select(func.count())
            .select_from(WriteOp)
            .where(WriteOp.tenant_id == tenant.id, WriteOp.status == WriteState.FAILED)
        )
        or 0,
    )


def rotate_credentials(s: Session, conn: Connection, new: dict[str, Any]) -> None:
    """Replace some of the connection's secrets (the others are kept); a re-authorised connection is active."""
    secrets = vault().open(conn.credentials)
    secrets.update({k: v for k, v in new.items() if v is not None})
    conn.credentials = vault().seal(secrets)
    if conn.status == ConnectionStatus.NEEDS_REAUTH:
        reactivate(conn)


def purge_tenant(s: Session, tenant_id: str) -> None:
    """Delete the tenant and every row of its data, children before parents."""
    for table in reversed(Base.metadata.sorted_tables):
        if "tenant_id" in table.c and table.name != "tenants":
            s.execute(delete(table).where(table.c.tenant_id == tenant_id))
    s.execute(delete(Tenant).where(Tenant.id == tenant_id))


def request_sync(tenant_id: str, trigger: str) -> int | None:
    """Start a run now to act on something a person decided; if one is under way, the tenant is marked so the
    next run starts as soon as it ends (that run may have planned before the decision). A paused tenant starts
    none: the decision is kept and travels with the first run after the tenant is resumed."""
    from contactsync import db
    from contactsync.tasks.schedule import TenantPaused, trigger_sync

    with db.session() as s:
        tenant = s.get(Tenant, tenant_id)
        if tenant is None:
            return None
        tenant.sync_requested_at = utcnow()
    try:
        return trigger_sync(tenant_id, trigger=trigger, unless_paused=True)
    except (LookupError, TenantPaused):
        return None
