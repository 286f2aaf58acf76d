"""The beat's one periodic task: start due tenants' runs, and re-drive runs whose worker died.

Schedules live in the database (`tenants.next_sync_at`), not in the beat's own schedule, so adding a tenant needs
no beat restart and a second beat (or a restarted one) cannot double-start a run: the run's row is the tenant's
lease (see `models.runs.SyncRun`).
"""

from __future__ import annotations

from sqlalchemy import or_, select

from contactsync import db
from contactsync.logs import get_logger
from contactsync.models import Connection, Tenant
from contactsync.models.base import utcnow
from contactsync.settings import get_settings
from contactsync.store.runs import open_write_ops, stale_runs, start_run, touch, unreconciled_pages
from contactsync.tasks.routing import send
from contactsync.tasks.write import dispatch_writes
from contactsync.worker.app import app

log = get_logger(__name__)


@app.task(name="contactsync.schedule_tick")
def schedule_tick() -> dict[str, int]:
    started = start_due_runs()
    redriven = redrive_stale_runs(get_settings().stale_run_seconds)
    return {"started": started, "redriven": redriven}


def start_due_runs(tenant_id: str | None = None, trigger: str = "schedule") -> int:
    """Start a run for every due tenant (or just `tenant_id`, if due) that has none active."""
    now = utcnow()
    started: list[tuple[str, int]] = []
    with db.session() as s:
        query = (
            select(Tenant, Connection)
            .join(Connection, Connection.tenant_id == Tenant.id)
            .where(
                Tenant.paused.is_(False),
                Connection.status == "active",
                or_(Tenant.next_sync_at.is_(None), Tenant.next_sync_at <= now),
            )
            .order_by(Tenant.next_sync_at.nulls_first())
            .limit(500)
        )
        if tenant_id is not None:
            query = query.where(Tenant.id == tenant_id)
        due = s.execute(query).all()
        for tenant, conn in due:
            run = start_run(s, conn, trigger=trigger)
            if run is not None:
                started.append((tenant.id, run.id))
    for tenant_id, run_id in started:
        send("contactsync.fetch", tenant_id, run_id)
    return len(started)


def trigger_sync(tenant_id: str, *, full: bool = False, trigger: str = "manual") -> int | None:
    """Start a run now (CLI, webhook). Returns the run id, or None when the tenant already has an active run."""
    with db.session() as s:
        conn = s.scalar(select(Connection).where(Connection.tenant_id == tenant_id))
        if conn is None:
            raise LookupError(f"tenant {tenant_id!r} has no connection")
        run = start_run(s, conn, full=full, trigger=trigger)
        run_id = run.id if run is not None else None
    if run_id is not None:
        send("contactsync.fetch", tenant_id, run_id)
    return run_id


def redrive_stale_runs(older_than_seconds: int) -> int:
    """Every step is idempotent, so a run without a heartbeat is simply sent its current step again."""
    todo: list[tuple[str, str, list[int], int]] = []
    writes: list[tuple[str, list[int], int]] = []
    with db.session() as s:
        for run in stale_runs(s, older_than_seconds):
            if run.status == "fetching":
                todo.append((run.tenant_id, "contactsync.fetch", [run.id], run.id))
            elif run.status == "reconciling":
                pages = unreconciled_pages(s, run.id)
                for page_no in pages:
                    todo.append((run.tenant_id, "contactsync.reconcile", [run.id, page_no], run.id))
                if not pages:
                    todo.append((run.tenant_id, "contactsync.advance", [run.id], run.id))
            elif run.status == "writing":
                ops = open_write_ops(s, run)
                if ops:
                    writes.append((run.tenant_id, ops, run.id))
                else:
                    todo.append((run.tenant_id, "contactsync.plan_writes", [run.id], run.id))
            touch(s, run.id)
    for tenant_id, name, args, run_id in todo:
        log.info("re-driving stale run", run_id=run_id, task=name)
        send(name, tenant_id, *args)
    for tenant_id, ops, run_id in writes:
        log.info("re-driving stale run", run_id=run_id, task="contactsync.write_batch", writes=len(ops))
        dispatch_writes(tenant_id, ops)
    return len({t[3] for t in todo} | {w[2] for w in writes})
