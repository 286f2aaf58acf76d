"""The life of a sync run: start (taking the tenant's lease), counters, page bookkeeping, stage changes, end.

Stage changes happen under a row lock on the run, so the last of several concurrent reconcile or write tasks is
the one (and only one) that moves the run on, whichever worker it runs on. Every change of a run's status goes
through `transition_run`, which refuses a move `states.RUN_TRANSITIONS` does not allow and does the bookkeeping
of a run that ends (its outcome reported, the tenant's next sync scheduled).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import case, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from contactsync import db, metrics
from contactsync.logs import get_logger
from contactsync.models import (
    ACTIVE_RUN_STATES,
    ACTIVE_WRITE_SQL,
    ACTIVE_WRITE_STATES,
    RUN_COUNTERS,
    Connection,
    RunPage,
    RunStatus,
    SyncCursor,
    SyncRun,
    Tenant,
    WriteOp,
    WriteState,
)
from contactsync.models.base import utcnow
from contactsync.settings import get_settings
from contactsync.states import RUN_TRANSITIONS
from contactsync.store.statistics import refresh_stale_statistics
from contactsync.store.transitions import checked_move

log = get_logger(__name__)


def cursor_of(s: Session, conn: Connection) -> SyncCursor:
    cur = s.get(SyncCursor, conn.id)
    if cur is None:
        s.execute(
            pg_insert(SyncCursor).values(connection_id=conn.id, tenant_id=conn.tenant_id).on_conflict_do_nothing()
        )
        cur = s.get(SyncCursor, conn.id)
    assert cur is not None
    return cur


def start_run(s: Session, conn: Connection, *, full: bool = False, trigger: str = "schedule") -> SyncRun | None:
    """Open a run for the connection's tenant, or return None when one is already active (the lease is taken).

    The first run of a connection is always full: until every remote contact has been seen once, creating app
    contacts remotely could duplicate ones that simply were not fetched yet. Later, a full walk recurs every
    `CONTACTSYNC_FULL_SYNC_INTERVAL_SECONDS`: it is how deletions show on platforms that do not flag them.
    """
    cursor = cursor_of(s, conn)
    full_due = cursor.last_full_at is None or utcnow() - cursor.last_full_at > timedelta(
        seconds=get_settings().full_sync_interval_seconds
    )
    kind = "full" if full or full_due or cursor.watermark is None else "incremental"
    run = SyncRun(
        tenant_id=conn.tenant_id, connection_id=conn.id, kind=kind, status=RunStatus.FETCHING, trigger=trigger
    )
    try:
        with s.begin_nested():
            s.add(run)
            s.flush()
    except IntegrityError:
        return None
    ids = {"tenant_id": run.tenant_id, "run_id": run.id, "connection_id": run.connection_id}
    db.on_commit(s, lambda: log.info("run started", kind=kind, trigger=trigger, **ids))
    return run


# The counters `finish_writing` takes from the ledger when it ends a run (at least what the ledger holds).
_LEDGER_COUNTERS = frozenset({"created_remote", "updated_remote", "write_errors"})


def add_counters(s: Session, run_id: int, **deltas: int) -> None:
    """Atomic increments, safe when tasks on several workers count into the same run.

    A write batch commits its entries' states before it adds its counters, and another task may end the run in
    between (a batch finding nothing open, the planning of the pairs), counting those entries from the ledger.
    The counters the ledger gave a run that has ended are therefore not added to again: added, a refused write
    counted twice. Whether the run has ended is read in the UPDATE itself, after any lock the ending holds."""
    increments = _increments(deltas)
    for name in _LEDGER_COUNTERS & increments.keys():
        column = getattr(SyncRun, name)
        increments[name] = case((SyncRun.finished_at.is_(None), increments[name]), else_=column)
    values: dict[str, Any] = {**increments, "heartbeat_at": utcnow()}
    s.execute(update(SyncRun).where(SyncRun.id == run_id).values(**values))
    db.on_commit(s, lambda: metrics.count_contacts(deltas))


def count_into(s: Session, run: SyncRun, **deltas: int) -> None:
    """`add_counters` for a run row this session has locked and changes anyway (a walk's page moves its token):
    the increments go into the UPDATE that writes the row's other changes, one statement instead of two. Each
    counter is written as `counter + delta`, so it adds to the row as it is; read back, it is loaded again."""
    for name, increment in _increments(deltas).items():
        setattr(run, name, increment)
    run.heartbeat_at = utcnow()
    db.on_commit(s, lambda: metrics.count_contacts(deltas))


def _increments(deltas: dict[str, int]) -> dict[str, Any]:
    """`counter + delta` for each named run counter that moves; an unknown name is refused."""
    out: dict[str, Any] = {}
    for name, delta in deltas.items():
        if name not in RUN_COUNTERS:
            raise ValueError(f"unknown run counter {name}")
        if delta:
            out[name] = getattr(SyncRun, name) + delta
    return out


def get_run(s: Session, tenant_id: str, run_id: int) -> SyncRun | None:
    """A run by id, only if it is this tenant's: a task never acts on another tenant's rows, whatever its
    message says."""
    return s.scalar(select(SyncRun).where(SyncRun.id == run_id, SyncRun.tenant_id == tenant_id))


PLANNING_LOCK = 7302  # first key of the two-key advisory lock a run's planning takes; the second is the run id


def lock_planning(s: Session, run_id: int) -> None:
    """One planning of a run at a time, until the transaction ends (`tasks.plan`: its second transaction does not
    hold the run's row)."""
    s.execute(text("SELECT pg_advisory_xact_lock(:c, :r)"), {"c": PLANNING_LOCK, "r": run_id})


def lock_run(s: Session, tenant_id: str, run_id: int) -> SyncRun | None:
    return s.scalar(
        select(SyncRun)
        .where(SyncRun.id == run_id, SyncRun.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def record_page(s: Session, run: SyncRun, page_no: int, remote_ids: list[int], *, reconciled: bool = False) -> None:
    s.execute(
        pg_insert(RunPage)
        .values(
            run_id=run.id,
            tenant_id=run.tenant_id,
            page_no=page_no,
            remote_contact_ids=remote_ids,
            reconciled=reconciled,
        )
        .on_conflict_do_nothing()
    )
    ids = {"tenant_id": run.tenant_id, "run_id": run.id, "connection_id": run.connection_id}
    db.on_commit(s, lambda: log.info("page fetched", page=page_no + 1, contacts=len(remote_ids), **ids))


def unreconciled_pages(s: Session, run_id: int) -> list[int]:
    return list(s.scalars(select(RunPage.page_no).where(RunPage.run_id == run_id, RunPage.reconciled.is_(False))))


def open_write_ops(s: Session, run: SyncRun) -> list[int]:
    """Ledger entries of the run's connection that keep it writing (also those left by earlier runs). A parked
    create is not one of them: it waits for evidence outside any run, and each run re-checks it."""
    return list(
        s.scalars(
            select(WriteOp.id)
            .where(
                WriteOp.tenant_id == run.tenant_id,
                WriteOp.connection_id == run.connection_id,
                WriteOp.status.in_(ACTIVE_WRITE_STATES),
            )
            .order_by(WriteOp.id)
        )
    )


def has_open_writes(s: Session, tenant_id: str, run_id: int) -> bool:
    """Whether any entry still keeps the run writing (`open_write_ops`, without listing them): one probe of the
    partial index of active entries, whatever the size of the ledger, so every write batch can ask."""
    connection = select(SyncRun.connection_id).where(SyncRun.id == run_id).scalar_subquery()
    return bool(
        s.scalar(
            select(
                select(WriteOp.id)
                .where(WriteOp.tenant_id == tenant_id, WriteOp.connection_id == connection, text(ACTIVE_WRITE_SQL))
                .exists()
            )
        )
    )


def finish_writing(s: Session, run: SyncRun) -> None:
    """End a run whose writes are all settled, with an outcome that tells the truth: `succeeded` only when no
    write failed and no create waits parked; else `partial`, with the counts in the run and its error text."""
    failed = int(
        s.scalar(
            select(func.count())
            .select_from(WriteOp)
            .where(WriteOp.run_id == run.id, WriteOp.status == WriteState.FAILED)
        )
        or 0
    )
    parked = int(
        s.scalar(
            select(func.count())
            .select_from(WriteOp)
            .where(WriteOp.connection_id == run.connection_id, WriteOp.status == WriteState.PARKED)
        )
        or 0
    )
    run.write_errors = max(run.write_errors, failed)
    run.parked = parked
    # Write batches add their counters once, at their end: a batch whose worker was killed after recording some
    # entries never added theirs (its redelivery skips them as done). The ledger knows what was done.
    done: dict[str, int] = {
        kind: int(n)
        for kind, n in s.execute(
            select(WriteOp.kind, func.count())
            .where(WriteOp.run_id == run.id, WriteOp.status == WriteState.DONE)
            .group_by(WriteOp.kind)
        )
    }
    run.created_remote = max(run.created_remote, done.get("create", 0))
    run.updated_remote = max(run.updated_remote, done.get("update", 0))
    if not run.write_errors and not parked:
        transition_run(s, run, RunStatus.SUCCEEDED)
        return
    reasons = []
    if run.write_errors:
        reasons.append(f"{run.write_errors} write(s) failed")
    if parked:
        reasons.append(f"{parked} create(s) whose answer was lost wait parked for evidence")
    transition_run(s, run, RunStatus.PARTIAL, "; ".join(reasons))


class RunTransitionError(RuntimeError):
    """A run was asked to move where its state machine does not go (a bug, never a provider's doing)."""


def transition_run(s: Session, run: SyncRun, to: RunStatus, error: str | None = None) -> None:
    """Move the run (locked by the caller, see `lock_run`) to `to`. A stage change keeps the run's last error
    unless one is given; an end records `error` (None on success) and the end time, reports the outcome and
    schedules the tenant's next sync."""
    checked_move(run, to, RUN_TRANSITIONS, RunTransitionError, what="run")
    if to in ACTIVE_RUN_STATES:
        if error is not None:
            run.error = error
        return
    _finish(s, run, to, error)


def _finish(s: Session, run: SyncRun, status: RunStatus, error: str | None) -> None:
    run.status = status
    run.error = error
    run.finished_at = utcnow()
    run.heartbeat_at = run.finished_at
    counters = _report_finished(s, run)
    # What the run loaded is planned from fresh statistics by the tenant's next run (see `store.statistics`): its
    # ledger entries, and for each create a link and a mirrored copy.
    writes, creates = counters["created_remote"] + counters["updated_remote"], counters["created_remote"]
    written = {"write_ops": writes, "links": creates, "remote_contacts": creates}
    db.on_commit(s, lambda: refresh_stale_statistics(written))
    tenant = s.get(Tenant, run.tenant_id)
    if tenant is not None:
        requested = tenant.sync_requested_at is not None and tenant.sync_requested_at >= run.started_at
        # A change announced while this run was under way may have missed it: the next run starts right away.
        tenant.next_sync_at = (
            run.finished_at if requested else run.finished_at + timedelta(seconds=tenant.sync_interval_seconds)
        )


def _report_finished(s: Session, run: SyncRun) -> dict[str, int]:
    """The run's outcome and its counters, as metrics and one log line, once the transaction commits; returns the
    counters.

    The counters are read back from the row: tasks add to them with UPDATE statements the ORM object has not seen.
    """
    counters = dict(
        zip(
            RUN_COUNTERS,
            s.execute(select(*(getattr(SyncRun, c) for c in RUN_COUNTERS)).where(SyncRun.id == run.id)).one(),
            strict=True,
        )
    )
    seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else 0.0
    outcome, trigger, kind = run.status, run.trigger, run.kind
    ids = {"tenant_id": run.tenant_id, "run_id": run.id, "connection_id": run.connection_id}
    error = run.error

    def report() -> None:
        metrics.count_run(outcome, trigger, kind, seconds)
        log.info("run finished", outcome=outcome, seconds=round(seconds, 3), error=error, **ids, **counters)

    db.on_commit(s, report)
    return counters


def stale_runs(s: Session, older_than_seconds: int) -> list[SyncRun]:
    limit = utcnow() - timedelta(seconds=older_than_seconds)
    return list(s.scalars(select(SyncRun).where(SyncRun.status.in_(ACTIVE_RUN_STATES), SyncRun.heartbeat_at < limit)))


def touch(s: Session, run_id: int) -> None:
    s.execute(update(SyncRun).where(SyncRun.id == run_id).values(heartbeat_at=func.now()))
