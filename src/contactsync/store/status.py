"""The operator's overview, read in a few grouped queries: per tenant, its last run, lag, open work and health.

`contactsync status` renders it; it only reads, so it is safe to run at any time against a live system.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contactsync.models import Connection, ReviewItem, SyncRun, Tenant, WriteOp
from contactsync.models.base import utcnow
from contactsync.states import ReviewStatus, RunStatus, WriteState


@dataclass(frozen=True)
class TenantStatus:
    tenant_id: str
    dialect: str
    connection: str  # the connection's status: active, needs_reauth, ...
    connection_reason: str | None
    last_run_id: int | None
    last_run_status: str | None  # whatever the run row holds; new outcomes show as they are
    last_run_started: datetime | None
    lag_seconds: float  # since the last successful sync ended (since the tenant was added if none has)
    open_reviews: int
    failed_writes: int
    next_sync_at: datetime | None


def tenant_statuses(s: Session, tenant_id: str | None = None) -> list[TenantStatus]:
    now = utcnow()
    last = select(SyncRun.tenant_id, func.max(SyncRun.id).label("run_id")).group_by(SyncRun.tenant_id).subquery("last")
    last_ok = (
        select(SyncRun.tenant_id, func.max(SyncRun.finished_at).label("at"))
        .where(SyncRun.status == RunStatus.SUCCEEDED)
        .group_by(SyncRun.tenant_id)
        .subquery("last_ok")
    )
    reviews = (
        select(ReviewItem.tenant_id, func.count().label("n"))
        .where(ReviewItem.status == ReviewStatus.OPEN)
        .group_by(ReviewItem.tenant_id)
        .subquery("reviews")
    )
    failed = (
        select(WriteOp.tenant_id, func.count().label("n"))
        .where(WriteOp.status == WriteState.FAILED)
        .group_by(WriteOp.tenant_id)
        .subquery("failed")
    )
    query = (
        select(Tenant, Connection, SyncRun, last_ok.c.at, reviews.c.n, failed.c.n)
        .join(Connection, Connection.tenant_id == Tenant.id)
        .outerjoin(last, last.c.tenant_id == Tenant.id)
        .outerjoin(SyncRun, SyncRun.id == last.c.run_id)
        .outerjoin(last_ok, last_ok.c.tenant_id == Tenant.id)
        .outerjoin(reviews, reviews.c.tenant_id == Tenant.id)
        .outerjoin(failed, failed.c.tenant_id == Tenant.id)
        .order_by(Tenant.id)
    )
    if tenant_id is not None:
        query = query.where(Tenant.id == tenant_id)
    out = []
    for tenant, conn, run, ok_at, n_reviews, n_failed in s.execute(query):
        out.append(
            TenantStatus(
                tenant_id=tenant.id,
                dialect=conn.dialect,
                connection=conn.status,
                connection_reason=conn.status_reason,
                last_run_id=run.id if run else None,
                last_run_status=run.status if run else None,
                last_run_started=run.started_at if run else None,
                lag_seconds=max(0.0, (now - (ok_at or tenant.created_at)).total_seconds()),
                open_reviews=int(n_reviews or 0),
                failed_writes=int(n_failed or 0),
                next_sync_at=tenant.next_sync_at,
            )
        )
    return out
