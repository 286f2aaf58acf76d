"""Plan a run's writes into the ledger and queue them in batches (`tasks.write` sends them).

Planning is two tasks, each one transaction. `plan_writes` plans what the walk left for creating (the app's
contacts that no platform contact matched), re-checks the lost creates of earlier runs, commits, and queues the
entries; then it queues `plan_pairs` (or, with nothing queued, runs it itself), which plans the linked pairs
whose either side changed (the app's side taken in, updates to the platform, conflicts to review) and queues what
that adds. A first sync plans thousands of linked pairs: in one task, that took seconds which the creates waited
for and a rate-limited tenant's budget lost (BENCHMARKS.md, "Rate-limited runs"). As a task of its own queued
behind the creates, it holds no worker process the creates' batches could use: where two tenants share a
worker, both of whose processes planned, no batch ran until one of them had finished.

The run does not end between the two, however soon its creates are done: the first clears the run's
`writes_planned`, which only the second sets again, and a write batch ends a run only when it is set and, with
the run's row locked, no entry is open (`tasks.write`). The second takes the run's row only at its end, to count
and to set the flag: write batches add their counters to that row meanwhile, so holding it through planning
would stop every batch at its close. A planning cut short between the two leaves the flag cleared; the stale-run
re-drive then sends `plan_writes` again. Two plannings of one run (a redelivered message, a re-driven run) take
turns on an advisory lock; each step is repeatable (ledger keys, baselines).
"""

from __future__ import annotations

from collections.abc import Sequence

from contactsync import db
from contactsync.logs import get_logger
from contactsync.models import Connection, SyncCursor
from contactsync.models import RunStatus as R
from contactsync.providers.registry import options_of, unwritable_fields
from contactsync.settings import get_settings
from contactsync.store.ledger import PlanOutcome, plan_creates, plan_pairs
from contactsync.store.lost_creates import recheck_parked, visibility_lag
from contactsync.store.reconcile import pending_remote_ids, reconcile_remote, review_candidate_ids
from contactsync.store.runs import (
    add_counters,
    finish_writing,
    get_run,
    lock_planning,
    lock_run,
    open_write_ops,
)
from contactsync.store.tenants import requests_per_minute
from contactsync.sync.walks import creates_allowed
from contactsync.tasks.write import write_batch
from contactsync.worker.app import INFRA_RETRY, celery_task
from contactsync.worker.routing import enqueue

log = get_logger(__name__)
BATCH_SECONDS = 1  # at most this many seconds of a tenant's request budget in one batch


@celery_task("contactsync.plan_writes", **INFRA_RETRY)
def plan_writes(tenant_id: str, run_id: int) -> None:
    """The run's creates, queued at once; its linked pairs are planned by a task of their own queued after them,
    which leaves this worker process free for the creates (see the module docstring)."""
    first = plan_run_creates(tenant_id, run_id)
    if first is None:
        return
    queued, per_minute = first
    if not queued:  # nothing to send meanwhile (an incremental run, as a rule): no hop through the queue
        plan_linked_pairs(tenant_id, run_id)
        return
    dispatch_writes(tenant_id, queued, per_minute)
    enqueue(plan_linked_pairs, tenant_id, run_id, max(queued))


@celery_task("contactsync.plan_pairs", **INFRA_RETRY)
def plan_linked_pairs(tenant_id: str, run_id: int, queued_up_to: int = 0) -> None:
    """The run's linked pairs; queues the open entries after `queued_up_to` (the last one `plan_writes` queued):
    the entries this plan adds, and any another path queued itself (a review's create), which a batch skips
    once done."""
    planned = plan_run_pairs(tenant_id, run_id)
    if planned is not None:
        open_ids, per_minute = planned
        dispatch_writes(tenant_id, [i for i in open_ids if i > queued_up_to], per_minute)


def plan_run_creates(tenant_id: str, run_id: int) -> tuple[list[int], int] | None:
    """The first transaction: the run's creates, and the lost creates of earlier runs re-checked after this
    run's walk. Returns the connection's open entries to queue and its pace, or None (the run is not writing)."""
    with db.session() as s:
        lock_planning(s, run_id)
        run = lock_run(s, tenant_id, run_id)
        if run is None or run.status != R.WRITING:
            return None
        leftovers = pending_remote_ids(s, run.tenant_id, run.connection_id)
        if leftovers:
            late = reconcile_remote(s, run.tenant_id, leftovers)
            add_counters(s, run_id, linked=late.linked, reviewed=late.reviewed)
        cursor = s.get(SyncCursor, run.connection_id)
        conn = s.get(Connection, run.connection_id)
        assert conn is not None
        creates = 0
        if creates_allowed(cursor.last_full_at if cursor is not None else None):
            creates = plan_creates(s, run.tenant_id, run.connection_id, run_id)
        # After this run's walk (and its echo recognition), and before any of its own creates is sent: what is
        # still open of the lost creates is looked up again, or sent again where the walk proved its absence.
        in_review = frozenset(review_candidate_ids(s, run.tenant_id))
        _rechecked, resend = recheck_parked(s, run, conn, in_review)
        if resend:
            log.info("lost creates proven absent by a complete walk; sending again", run_id=run_id, count=resend)
        run.writes_planned = False
        op_ids = open_write_ops(s, run)
        log.info("creates planned", tenant_id=tenant_id, run_id=run_id, creates=creates, queued=len(op_ids))
        per_minute = requests_per_minute(conn)
    return op_ids, per_minute


def plan_run_pairs(tenant_id: str, run_id: int) -> tuple[list[int], int] | None:
    """The second transaction: the linked pairs. Returns the connection's open entries and its pace, or None (the
    run is not writing); ends the run here when no entry is open."""
    with db.session() as s:
        lock_planning(s, run_id)
        run = get_run(s, tenant_id, run_id)  # not locked yet: see the module docstring
        if run is None or run.status != R.WRITING:
            return None
        conn = s.get(Connection, run.connection_id)
        assert conn is not None
        out = PlanOutcome()
        options = options_of(conn.dialect, conn.options)
        plan_pairs(
            s,
            out,
            run.tenant_id,
            run.connection_id,
            run_id,
            conn.dialect,
            options.conflict_policy,
            walk_started_at=run.started_at,
            visibility_lag=visibility_lag(conn),
            unwritable=unwritable_fields(conn.dialect, conn.options),
            send_clears=bool(options.send_clears),
        )
        if out.held or out.reviews or out.removals or out.deferred:
            log.info("planning held identity changes, opened conflict reviews, saw platform removals or deferred "
                     "updates of contacts the platform may not list yet", run_id=run_id, held=out.held,
                     reviews=out.reviews, removals=out.removals, deferred=out.deferred)  # fmt: skip
        run = lock_run(s, tenant_id, run_id)
        if run is None or run.status != R.WRITING:
            return None  # stopped meanwhile; what was planned stays in the ledger for the connection's next run
        add_counters(s, run_id, updated_app=out.app_updates, conflicts=out.conflicts, reviewed=out.reviews)
        run.writes_planned = True
        # Read with the row locked: an entry a write batch settled before is seen settled, and a batch that
        # settles one after sees the flag and this plan's entries (it asks again with the row locked).
        op_ids = open_write_ops(s, run)
        ids = {"tenant_id": tenant_id, "run_id": run_id, "connection_id": run.connection_id}
        log.info("writes planned", writes=len(op_ids), app_updates=out.app_updates, conflicts=out.conflicts, **ids)
        if not op_ids:
            finish_writing(s, run)
        per_minute = requests_per_minute(conn)
    return op_ids, per_minute


def dispatch_writes(tenant_id: str, op_ids: Sequence[int], per_minute: int) -> None:
    """Send ledger entries to the tenant's queue in batches, in ledger order.

    At a platform's pace a batch is cut to one second of requests (one entry at 60/min, ten at 600/min): its short
    waits for the bucket, between the requests of that second, are taken holding its worker process. A longer
    wait (the bucket empty) is not: the batch hands its entries back to the queue (`tasks.batch.hand_back`), so
    the tenants sharing a worker are not held up behind one whose bucket is empty.
    """
    settings = get_settings()
    ordered = sorted(op_ids)
    for batch in batches(ordered, settings.write_batch_size, settings.write_concurrency, per_minute):
        enqueue(write_batch, tenant_id, batch)


def batches(op_ids: Sequence[int], batch_size: int, width: int, per_minute: int) -> list[list[int]]:
    """The entries cut into batches of whole groups, or of one second of requests at the platform's pace.

    Where the pace does not cut them, a tail of one group or less goes with the batch before it (50 entries at
    24 a batch: 24 and 26, not 24, 24 and 2). A batch of its own for it costs a message, a task, the entries'
    locks and the batch's closing transactions, more than the one group it adds to the batch before. A paced
    batch stays one second long."""
    grouped = whole_groups(batch_size, width)
    paced = per_minute * BATCH_SECONDS // 60
    size = max(1, min(grouped, paced))
    cut = [list(op_ids[start : start + size]) for start in range(0, len(op_ids), size)]
    if len(cut) > 1 and width <= size == grouped < paced and len(cut[-1]) <= width:
        tail = cut.pop()
        cut[-1] += tail
    return cut


def whole_groups(batch_size: int, width: int) -> int:
    """A batch of more than one group is cut to a whole number of groups (25 entries at 8 a group: 24), so that
    its last group is not a transaction of its own for an entry or two; every group costs one transaction and
    about ten statements whatever its size."""
    return batch_size - batch_size % width if batch_size > width else batch_size
