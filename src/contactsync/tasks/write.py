"""Plan the run's writes into the ledger, then send each one, exactly once as far as the platform can tell.

One ledger entry is worked on by one worker at a time: the task holds a PostgreSQL advisory lock on the entry
for the duration of the HTTP call. The lock lives in the database session, so a worker killed mid-call releases
it at once, and the next attempt sees the entry still `in_flight` — the sign that the create may have reached
the platform.

A create that may have reached the platform is never sent again on "not found right now". Where the connection
has an Idempotency-Key the same request is repeated and the platform replays its first answer. Elsewhere the
task looks the contact up (every page, filters checked on the client, only a true echo adopted) a few times and
then parks the entry: the run ends without it (`partial`), later walks recognise its echo in reconcile, and only
a completed walk of its whole window after the visibility lag makes it `pending` again (see
`store.lost_creates`).
"""

from __future__ import annotations

from typing import Any

from celery import Task
from sqlalchemy import text

from contactsync import db
from contactsync.contact import CanonicalContact
from contactsync.logs import get_logger
from contactsync.models import ACTIVE_WRITE_STATES, Connection, SyncCursor, WriteOp
from contactsync.models import RunStatus as R
from contactsync.models import WriteState as W
from contactsync.models.base import utcnow
from contactsync.providers.base import Provider
from contactsync.providers.errors import AuthLost, LookupIncomplete, ProviderError, RateLimited
from contactsync.providers.pool import CallMeter
from contactsync.providers.registry import options_of
from contactsync.settings import get_settings
from contactsync.states import ConnectionStatus
from contactsync.store.ledger import plan_into_ledger, record_created, record_updated
from contactsync.store.lost_creates import echo_among, recheck_parked
from contactsync.store.reconcile import pending_remote_ids, reconcile_remote, review_candidate_ids
from contactsync.store.runs import add_counters, finish_writing, lock_run, open_write_ops
from contactsync.store.tenants import owned_connection, provider_for
from contactsync.sync.walks import creates_allowed
from contactsync.tasks.failures import Attempt, Failure
from contactsync.tasks.failures import handle as handle_failure
from contactsync.tasks.outcomes import retry_delay
from contactsync.worker.app import INFRA_RETRY, bound_celery_task, celery_task
from contactsync.worker.routing import enqueue

log = get_logger(__name__)
LOCK_CLASS = 7301  # first key of the two-key advisory lock; the second is the ledger id


@celery_task("contactsync.plan_writes", **INFRA_RETRY)
def plan_writes(tenant_id: str, run_id: int) -> None:
    with db.session() as s:
        run = lock_run(s, tenant_id, run_id)
        if run is None or run.status != R.WRITING:
            return
        leftovers = pending_remote_ids(s, run.tenant_id, run.connection_id)
        if leftovers:
            late = reconcile_remote(s, run.tenant_id, leftovers)
            add_counters(s, run_id, linked=late.linked, reviewed=late.reviewed)
        cursor = s.get(SyncCursor, run.connection_id)
        allow_creates = creates_allowed(cursor.last_full_at if cursor is not None else None)
        conn = s.get(Connection, run.connection_id)
        assert conn is not None
        policy = options_of(conn.dialect, conn.options).conflict_policy
        out = plan_into_ledger(s, run.tenant_id, run.connection_id, run_id, allow_creates, conn.dialect, policy)
        add_counters(s, run_id, updated_app=out.app_updates, conflicts=out.conflicts, reviewed=out.reviews)
        if out.held or out.reviews or out.removals:
            log.info("planning held identity changes, opened conflict reviews or saw platform removals",
                     run_id=run_id, held=out.held, reviews=out.reviews, removals=out.removals)  # fmt: skip
            # After this run's walk (and its echo recognition): what is still open of the lost creates is looked up
        # again, or sent again where the walk proved its absence.
        in_review = frozenset(review_candidate_ids(s, run.tenant_id))
        _rechecked, resend = recheck_parked(s, run, conn, in_review)
        if resend:
            log.info("lost creates proven absent by a complete walk; sending again", run_id=run_id, count=resend)
        op_ids = open_write_ops(s, run)
        ids = {"tenant_id": tenant_id, "run_id": run_id, "connection_id": run.connection_id}
        log.info("writes planned", writes=len(op_ids), app_updates=out.app_updates, conflicts=out.conflicts, **ids)
        if not op_ids:
            finish_writing(s, run)
    for op_id in op_ids:
        enqueue(write, tenant_id, op_id)


@bound_celery_task("contactsync.write", **{**INFRA_RETRY, "max_retries": None})
def write(self: Task[Any, Any], tenant_id: str, op_id: int) -> None:
    with db.engine().connect() as lock_conn:
        got = lock_conn.execute(text("SELECT pg_try_advisory_lock(:c, :o)"), {"c": LOCK_CLASS, "o": op_id}).scalar()
        lock_conn.commit()
        if not got:
            return  # another worker is sending this entry right now
        try:
            _write_locked(self, tenant_id, op_id)
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:c, :o)"), {"c": LOCK_CLASS, "o": op_id})
            lock_conn.commit()


def _write_locked(task: Task[Any, Any], tenant_id: str, op_id: int) -> None:
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        if op is None or op.tenant_id != tenant_id:
            return
        if op.status not in ACTIVE_WRITE_STATES:
            if op.run_id is not None:
                _maybe_finish(tenant_id, op.run_id)
            return
        conn = owned_connection(s, tenant_id, op.connection_id)
        if conn.status != ConnectionStatus.ACTIVE:
            return
        previous = W(op.status)
        calls = CallMeter()  # none made yet: the provider's own meter counts from when it is open
        try:
            provider, calls = provider_for(conn)
        except Exception as exc:  # credentials that cannot be decrypted, an option the dialect rejects
            handle_failure(task, exc, Attempt("write", tenant_id, op.run_id, conn.id, calls))
            return
        # A create that may have reached the platform is looked for, not sent, unless the platform replays.
        look_first = op.kind == "create" and previous != W.PENDING and not provider.idempotency
        if not look_first:
            op.status, op.attempts, op.updated_at = W.IN_FLIGHT, op.attempts + 1, utcnow()
            if op.first_sent_at is None:
                op.first_sent_at = utcnow()
            # Flushed before the objects leave the session: `in_flight` must be on disk before the request goes
            # out, or a worker killed mid-request leaves no sign that the create may have arrived.
            s.flush()
        s.expunge_all()
    if look_first:
        _look_for_lost_create(task, tenant_id, op, conn, provider, calls)
    else:
        _send(task, tenant_id, op, conn, provider, calls, previous)


def _send(
    task: Task[Any, Any],
    tenant_id: str,
    op: WriteOp,
    conn: Connection,
    provider: Provider,
    calls: CallMeter,
    previous: W,
) -> None:
    run_id = op.run_id
    try:
        if op.kind == "create":
            contact = CanonicalContact.model_validate(dict(op.payload))
            created = provider.create(contact, idempotency_key=op.idempotency_key)
            with db.session() as s:
                live = s.get(WriteOp, op.id)
                assert live is not None
                record_created(s, live, created, adopted=False)
                if run_id is not None:
                    add_counters(s, run_id, created_remote=1, api_calls=calls.take())
        else:
            assert op.remote_id is not None
            updated = provider.update(op.remote_id, dict(op.payload["changes"]))
            with db.session() as s:
                live = s.get(WriteOp, op.id)
                assert live is not None
                record_updated(s, live, updated)
                if run_id is not None:
                    add_counters(s, run_id, updated_remote=1, api_calls=calls.take())
    except Exception as exc:

        def record(kind: Failure, error: str) -> None:
            if kind is Failure.PERMANENT:
                _set_status(op.id, W.FAILED, error, run_id, calls, failed=True)
            elif kind in (Failure.TRANSIENT, Failure.UNEXPECTED):
                # A create whose answer was lost (or whose success went unrecorded) may have been committed: the
                # next attempt looks (or, with an Idempotency-Key, repeats the very same request) before anything
                # is sent again.
                _set_status(op.id, W.UNCERTAIN if op.kind == "create" else W.PENDING, error, run_id, calls)
            else:
                _set_status(op.id, previous, error, run_id, calls)

        handle_failure(task, exc, Attempt("write", tenant_id, run_id, conn.id, calls), record=record)
    if run_id is not None:
        _maybe_finish(tenant_id, run_id)


def _look_for_lost_create(
    task: Task[Any, Any], tenant_id: str, op: WriteOp, conn: Connection, provider: Provider, calls: CallMeter
) -> None:
    """Look for the echo of a create that may have been committed; adopt it, or look again, or park it.

    Nothing here sends the create: a look-up that finds nothing, is cut short, or is refused (a 4xx on a read is
    not a refused write) is no evidence of absence.
    """
    run_id = op.run_id
    payload = dict(op.payload)
    echo: CanonicalContact | None = None
    problem = "not found yet"
    try:
        echo = _lookup(op, conn.dialect, provider, payload)
    except (RateLimited, AuthLost) as exc:
        handle_failure(
            task,
            exc,
            Attempt("write", tenant_id, run_id, conn.id, calls),
            record=lambda _kind, error: _set_status(op.id, W.UNCERTAIN, f"look-up: {error}", run_id, calls),
        )
        return
    except (LookupIncomplete, ProviderError) as exc:  # not evidence of absence, nor a refused write
        problem = f"look-up inconclusive: {exc}"
    if echo is not None:
        with db.session() as s:
            live = s.get(WriteOp, op.id)
            assert live is not None
            if live.status != W.DONE:
                record_created(s, live, echo, adopted=True)
                if run_id is not None:
                    add_counters(s, run_id, created_remote=1, api_calls=calls.take())
    elif task.request.retries + 1 < get_settings().lost_create_lookups:
        _set_status(op.id, W.UNCERTAIN, problem, run_id, calls)
        raise task.retry(countdown=1.0 + retry_delay(task.request.retries)) from None
    else:
        why = f"parked, {problem}: waiting for its echo or a walk proving its absence"
        _set_status(op.id, W.PARKED, why, run_id, calls)
        log.info("lost create parked", op_id=op.id, run_id=run_id)
    if run_id is not None:
        _maybe_finish(tenant_id, run_id)


def _lookup(op: WriteOp, dialect: str, provider: Provider, payload: dict[str, Any]) -> CanonicalContact | None:
    """By name and by the first email (a platform may re-spell a name its filter then misses). No database
    session is held while the platform answers."""
    emails = payload.get("emails") or []
    found = provider.search(name=str(payload["name"]), email=str(emails[0]) if emails else None)
    with db.session() as s:
        return echo_among(s, op, dialect, found)


def _set_status(op_id: int, status: W, error: str, run_id: int | None, calls: CallMeter, failed: bool = False) -> None:
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        if op is not None and op.status != W.DONE:
            op.status, op.last_error, op.updated_at = status, error[:2000], utcnow()
        if run_id is not None:
            add_counters(s, run_id, api_calls=calls.take(), write_errors=1 if failed else 0)


def _maybe_finish(tenant_id: str, run_id: int) -> None:
    with db.session() as s:
        run = lock_run(s, tenant_id, run_id)
        if run is None or run.status != R.WRITING:
            return
        if not open_write_ops(s, run):
            finish_writing(s, run)
