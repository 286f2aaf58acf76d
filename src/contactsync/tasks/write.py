"""Plan the run's writes into the ledger, then send each one, exactly once as far as the platform can tell.

One ledger entry is worked on by one worker at a time: the task holds a PostgreSQL advisory lock on the entry
for the duration of the HTTP call. The lock lives in the database session, so a worker killed mid-call releases
it at once, and the next attempt sees the entry still `in_flight` — the sign that the create may have reached
the platform. Before sending again it looks the contact up on the platform and adopts it when found; where the
connection supports it, the entry's stable Idempotency-Key makes the platform itself replay the first answer.
"""

from __future__ import annotations

from typing import Any

from celery import Task
from sqlalchemy import text

from contactsync import db
from contactsync.contact import CanonicalContact
from contactsync.logs import get_logger
from contactsync.models import OPEN_WRITE_STATES, Connection, SyncCursor, SyncRun, WriteOp
from contactsync.models.base import utcnow
from contactsync.providers.base import Provider
from contactsync.store.ledger import plan_writes as plan_into_ledger
from contactsync.store.ledger import record_created, record_updated, same_company
from contactsync.store.reconcile import pending_remote_ids, reconcile_remote
from contactsync.store.runs import add_counters, finish_run, lock_run, open_write_ops
from contactsync.store.tenants import provider_for
from contactsync.tasks.failures import Attempt, Failure
from contactsync.tasks.failures import handle as handle_failure
from contactsync.tasks.outcomes import CallCounter
from contactsync.tasks.routing import send
from contactsync.worker.app import INFRA_RETRY, app

log = get_logger(__name__)
LOCK_CLASS = 7301  # first key of the two-key advisory lock; the second is the ledger id


@app.task(name="contactsync.plan_writes", **INFRA_RETRY)
def plan_writes(tenant_id: str, run_id: int) -> None:
    with db.session() as s:
        run = lock_run(s, tenant_id, run_id)
        if run is None or run.status != "writing":
            return
        leftovers = pending_remote_ids(s, run.tenant_id, run.connection_id)
        if leftovers:
            late = reconcile_remote(s, run.tenant_id, leftovers)
            add_counters(s, run_id, linked=late.linked, reviewed=late.reviewed)
        cursor = s.get(SyncCursor, run.connection_id)
        allow_creates = cursor is not None and cursor.last_full_at is not None
        conn = s.get(Connection, run.connection_id)
        assert conn is not None
        policy = str(conn.options.get("conflict_policy", "newer"))
        out = plan_into_ledger(s, run.tenant_id, run.connection_id, run_id, allow_creates, conn.dialect, policy)
        add_counters(s, run_id, updated_app=out.app_updates, conflicts=out.conflicts, reviewed=out.reviews)
        if out.held or out.reviews or out.removals:
            log.info("planning held identity changes, opened conflict reviews or saw platform removals",
                     run_id=run_id, held=out.held, reviews=out.reviews, removals=out.removals)  # fmt: skip
        op_ids = open_write_ops(s, run)
        if not op_ids:
            finish_run(s, run, "succeeded")
    for op_id in op_ids:
        send("contactsync.write", tenant_id, op_id)


@app.task(name="contactsync.write", bind=True, **{**INFRA_RETRY, "max_retries": None})
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
        if op.status not in OPEN_WRITE_STATES:
            if op.run_id is not None:
                _maybe_finish(tenant_id, op.run_id)
            return
        conn = s.get(Connection, op.connection_id)
        assert conn is not None
        if conn.status != "active":
            return
        previous = op.status
        op.status, op.attempts, op.updated_at = "in_flight", op.attempts + 1, utcnow()
        # Flushed before the objects leave the session: `in_flight` must be on disk before the request goes
        # out, or a worker killed mid-request leaves no sign that the create may have arrived.
        s.flush()
        s.expunge_all()
    calls = CallCounter()
    run_id = op.run_id
    try:
        provider = provider_for(conn, on_call=calls.hit)
        if op.kind == "create":
            contact, adopted = _create(provider, op, may_exist=previous != "pending")
            with db.session() as s:
                live = s.get(WriteOp, op_id)
                assert live is not None
                record_created(s, live, contact, adopted=adopted)
                if run_id is not None:
                    add_counters(s, run_id, created_remote=0 if adopted else 1, api_calls=calls.take())
        else:
            assert op.remote_id is not None
            contact = provider.update(op.remote_id, dict(op.payload["changes"]))
            with db.session() as s:
                live = s.get(WriteOp, op_id)
                assert live is not None
                record_updated(s, live, contact)
                if run_id is not None:
                    add_counters(s, run_id, updated_remote=1, api_calls=calls.take())
    except Exception as exc:

        def record(kind: Failure, error: str) -> None:
            if kind is Failure.PERMANENT:
                _set_status(op_id, "failed", error, run_id, failed=True)
            elif kind in (Failure.TRANSIENT, Failure.UNEXPECTED):
                # A create whose answer was lost (or whose success went unrecorded) may have been committed: the
                # next attempt must look before it sends.
                _set_status(op_id, "uncertain" if op.kind == "create" else "pending", error, run_id)
            else:
                _set_status(op_id, previous, error, run_id)

        handle_failure(task, exc, Attempt("write", tenant_id, run_id, conn.id, calls), record=record)
    if run_id is not None:
        _maybe_finish(tenant_id, run_id)


def _create(provider: Provider, op: WriteOp, *, may_exist: bool) -> tuple[CanonicalContact, bool]:
    payload = dict(op.payload)
    if may_exist:
        emails = payload.get("emails") or []
        found = provider.search(name=payload["name"])
        if not found and emails:
            found = provider.search(email=emails[0])
        for candidate in found:
            if not candidate.deleted and same_company(payload, candidate):
                return candidate, True
    contact = CanonicalContact.model_validate(payload)
    return provider.create(contact, idempotency_key=op.idempotency_key), False


def _set_status(op_id: int, status: str, error: str, run_id: int | None, failed: bool = False) -> None:
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        if op is not None and op.status != "done":
            op.status, op.last_error, op.updated_at = status, error[:2000], utcnow()
        if run_id is not None and failed:
            add_counters(s, run_id, write_errors=1)


def _maybe_finish(tenant_id: str, run_id: int) -> None:
    with db.session() as s:
        run = lock_run(s, tenant_id, run_id)
        if run is None or run.status != "writing":
            return
        if not _has_open_ops(s, run):
            finish_run(s, run, "succeeded")


def _has_open_ops(s: Any, run: SyncRun) -> bool:
    return bool(open_write_ops(s, run))
