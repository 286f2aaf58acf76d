"""The beat's one periodic task: start due tenants' runs, and re-drive runs whose worker died.

Schedules live in the database (`tenants.next_sync_at`), not in the beat's own schedule, so adding a tenant needs
no beat restart and a second beat (or a restarted one) cannot double-start a run: the run's row is the tenant's
lease (see `models.runs.SyncRun`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

from sqlalchemy import select

from contactsync import db
from contactsync.logs import get_logger
from contactsync.models import Connection, RunStatus, Tenant
from contactsync.models.base import utcnow
from contactsync.settings import get_settings
from contactsync.store.due import start_due_batch
from contactsync.store.runs import open_write_ops, stale_runs, start_run, touch, unreconciled_pages
from contactsync.store.tenants import requests_per_minute
from contactsync.tasks.fetch import fetch
from contactsync.tasks.plan import dispatch_writes, plan_writes
from contactsync.tasks.reconcile import advance, reconcile
from contactsync.tasks.write import write_batch
from contactsync.worker.app import celery_task
from contactsync.worker.routing import enqueue, sent_together

log = get_logger(__name__)


@celery_task("contactsync.schedule_tick")
def schedule_tick() -> dict[str, int]:
    started = start_due_runs()
    redriven = redrive_stale_runs(get_settings().stale_run_seconds)
    return {"started": started, "redriven": redriven}


def start_due_runs(tenant_id: str | None = None, trigger: str = "schedule") -> int:
    """Start a run for every due tenant (or just `tenant_id`, if due) that has none active; how many started.

    Batches of `CONTACTSYNC_SCHEDULE_BATCH_SIZE` tenants, each started in one transaction of two statements and
    its fetch tasks sent together (one Redis pipeline, see `worker.routing.sent_together`) once it commits: a task
    sent earlier could find no run, and a run whose task never left (a crash between) is re-driven like any stale
    run. Batches repeat until no tenant is due any more, so a fleet of any size starts within one tick; a tick
    that runs out of its period stops, and the next tick goes on where it stopped (the longest-due tenants first).
    """
    settings = get_settings()
    now = utcnow()
    deadline = time.monotonic() + settings.schedule_tick_seconds
    total = 0
    while True:
        with db.session() as s:
            due, started = start_due_batch(
                s, now, limit=settings.schedule_batch_size, trigger=trigger, tenant_id=tenant_id
            )
        with sent_together():
            for run in started:
                enqueue(fetch, run.tenant_id, run.run_id)
        total += len(started)
        if due < settings.schedule_batch_size or tenant_id is not None:
            return total
        if time.monotonic() >= deadline:
            log.warning("schedule tick out of time; the next tick starts the remaining due runs", started=total)
            return total


class TenantPaused(RuntimeError):
    """A run was asked for a paused tenant by a caller that honours the pause."""


def trigger_sync(
    tenant_id: str, *, full: bool = False, trigger: str = "manual", unless_paused: bool = False
) -> int | None:
    """Start a run now (CLI, API). Returns the run id, or None when the tenant already has an active run.

    `unless_paused`: raise `TenantPaused` for a paused tenant. The pause is read with the tenant's row share-locked
    until the run commits, as the schedule tick reads it (`store.due`): a pause committed meanwhile either waits
    for the run or is seen, never returns before a run that then starts. The API asks; an operator's own commands
    (the CLI's sync and write retry) and a new connection's first sync do not."""
    with db.session() as s:
        conn = s.scalar(select(Connection).where(Connection.tenant_id == tenant_id))
        if conn is None:
            raise LookupError(f"tenant {tenant_id!r} has no connection")
        if unless_paused and s.scalar(select(Tenant.paused).where(Tenant.id == tenant_id).with_for_update(read=True)):
            raise TenantPaused(tenant_id)
        run = start_run(s, conn, full=full, trigger=trigger)
        run_id = run.id if run is not None else None
    if run_id is not None:
        enqueue(fetch, tenant_id, run_id)
    return run_id


def redrive_stale_runs(older_than_seconds: int) -> int:
    """Every step is idempotent, so a run without a heartbeat is simply sent its current step again."""
    # (run id, the step to send again): each step is queued once the transaction that touched the runs commits.
    todo: list[tuple[int, Callable[[], None], str]] = []
    with db.session() as s:
        for run in stale_runs(s, older_than_seconds):
            tenant_id, run_id = run.tenant_id, run.id
            if run.status == RunStatus.FETCHING:
                todo.append((run_id, partial(enqueue, fetch, tenant_id, run_id), fetch.name))
            elif run.status == RunStatus.RECONCILING:
                pages = unreconciled_pages(s, run_id)
                for page_no in pages:
                    todo.append((run_id, partial(enqueue, reconcile, tenant_id, run_id, page_no), reconcile.name))
                if not pages:
                    todo.append((run_id, partial(enqueue, advance, tenant_id, run_id), advance.name))
            elif run.status == RunStatus.WRITING:
                # A planning cut short between its creates and its pairs (`tasks.plan`) plans again; it queues the
                # open entries itself.
                ops = open_write_ops(s, run) if run.writes_planned else []
                if ops:
                    conn = s.get(Connection, run.connection_id)
                    per_minute = requests_per_minute(conn) if conn is not None else 1
                    todo.append((run_id, partial(dispatch_writes, tenant_id, ops, per_minute), write_batch.name))
                else:
                    todo.append((run_id, partial(enqueue, plan_writes, tenant_id, run_id), plan_writes.name))
            touch(s, run_id)
    with sent_together():
        for run_id, send_again, name in todo:
            log.info("re-driving stale run", run_id=run_id, task=name)
            send_again()
    return len({t[0] for t in todo})
