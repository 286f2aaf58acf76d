"""Send a run's ledger entries in batches, each entry exactly once as far as the platform can tell (`tasks.plan`
plans and queues them).

A write task carries a batch of ledger entries (`CONTACTSYNC_WRITE_BATCH_SIZE`) and sends them a group at a time:
up to `CONTACTSYNC_WRITE_CONCURRENCY` requests at once (`tasks.sending`), each taking its slot from the tenant's
shared rate-limit bucket, so a rate-limited connection still sends no faster than its budget (and its batches,
one second of budget, are groups of one at 60/min). Batching and groups save tasks, sessions, transactions and
round trips, never the per-entry promise:

- The task holds a PostgreSQL advisory lock on every entry of its batch for as long as it works on them. The
  locks live in one database session, so a worker killed mid-batch releases them at once, and a redelivered or
  duplicated batch skips entries another worker holds and never sends an entry that is done.
- Every entry of a group is `in_flight` on disk before any of its requests goes out, and only that group: the
  transaction that marks it also records the answers of the group before it. A worker killed while sending
  entries 5-8 of 10 leaves 1-4 done, 5-8 `in_flight` (each resolved by the lost-create path below) and 9-10
  `pending`, sent by the redelivery. The group's size is what a kill can leave in doubt.
- A failed request is settled in batch order after the group's answers are on disk; the task's retry, if one is
  due, is decided by the first failure that asks for it (`tasks.batch`).
- A batch does not wait for its tenant's bucket while holding its worker process. Before it marks a group
  `in_flight` it takes the group's slots from the bucket, all at once (`providers.ratelimit.reserve`), and cuts
  the group to the slots it got; the group's requests spend those slots and never wait for one. With no slot to
  be had for longer than `HAND_BACK_SECONDS`, the batch hands its entries not yet taken back to the queue, with a
  place booked on the bucket (`providers.ratelimit.book_later`). Only entries still `pending` (or waiting to be
  looked for) go back, never one `in_flight`, and the locks are released first, so a handed-back entry is sent
  once, by the batch that takes it next. Taking the slots together matters: two batches of one tenant that read
  the room and then took it request by request both counted the same room, and the requests beyond it waited up
  to a whole window, each holding a process the other tenants' queues needed (BENCHMARKS.md, "The 600/min
  stall").
- The run's counters are added once per batch, and whether the run is finished is one indexed existence check
  after the batch's last commit; the run row is locked only to end the run.

A create that may have reached the platform is never sent again on "not found right now". Where the connection
has an Idempotency-Key the same request is repeated and the platform replays its first answer. Elsewhere the
task looks the contact up (every page, filters checked on the client, only a true echo adopted) a few times and
then parks the entry: the run ends without it (`partial`), later walks recognise its echo in reconcile, and only
a completed walk of its whole window after the visibility lag makes it `pending` again (see
`store.lost_creates`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import Task
from sqlalchemy import select
from sqlalchemy.orm import Session, load_only

from contactsync import db
from contactsync.contact import CanonicalContact
from contactsync.logs import get_logger
from contactsync.models import ACTIVE_WRITE_STATES, AppContact, Connection, WriteOp
from contactsync.models import RunStatus as R
from contactsync.models import WriteState as W
from contactsync.models.base import utcnow
from contactsync.providers.base import Provider
from contactsync.providers.ratelimit import answered, prepaid_slot, reserve
from contactsync.settings import get_settings
from contactsync.states import ConnectionStatus
from contactsync.store.answers import Answer, record_answers
from contactsync.store.runs import finish_writing, has_open_writes, lock_run, touch
from contactsync.store.tenants import owned_connection, provider_for, requests_per_minute
from contactsync.store.write_locks import locked_entries
from contactsync.store.write_states import move_write, save_writes
from contactsync.tasks.batch import (
    HAND_BACK_SECONDS,
    Batch,
    Outcome,
    hand_back,
    look_for_lost_create,
    max_countdown,
    settle_failures,
)
from contactsync.tasks.failures import handle as handle_failure
from contactsync.tasks.outcomes import retry_delay
from contactsync.tasks.sending import Sender
from contactsync.worker.app import INFRA_RETRY, bound_celery_task
from contactsync.worker.routing import enqueue, enqueue_later

log = get_logger(__name__)
# Recording an answer needs an app contact's ids alone (its link, its feed entry): its documents are not read and
# decoded for every entry of every group (anything else asked of the row is loaded when asked).
_APP_IDS_ONLY = load_only(AppContact.id, AppContact.tenant_id, AppContact.app_id)


@bound_celery_task("contactsync.write_batch", **{**INFRA_RETRY, "max_retries": None})
def write_batch(
    self: Task[Any, Any], tenant_id: str, op_ids: list[int], looked: int = 0, not_before: float = 0.0
) -> None:
    """`looked`: how many look-ups the lost creates among `op_ids` have had (the batch re-queues only those).
    `not_before`: the time (epoch seconds) a batch that handed these entries back booked on the bucket."""
    if _travel_on(tenant_id, op_ids, looked, not_before):
        return
    look_ids = _run_batch(self, tenant_id, [int(i) for i in op_ids], looked, booked=not_before > 0)
    if look_ids:
        countdown = 1.0 + retry_delay(looked)
        raise self.retry(args=(tenant_id, look_ids, looked + 1), countdown=countdown) from None


@bound_celery_task("contactsync.write", **{**INFRA_RETRY, "max_retries": None})
def write(self: Task[Any, Any], tenant_id: str, op_id: int) -> None:
    """One ledger entry, as a batch of one: a create a review decision sends at once (and messages an earlier
    version queued)."""
    if _run_batch(self, tenant_id, [int(op_id)], self.request.retries or 0):
        raise self.retry(countdown=1.0 + retry_delay(self.request.retries)) from None


def _travel_on(tenant_id: str, op_ids: list[int], looked: int, not_before: float) -> bool:
    """A handed-back batch booked further ahead than a message may wait is queued again, touching nothing (no
    lock, no row), until its time is near; whether it was."""
    left = not_before - time.time()
    if left <= HAND_BACK_SECONDS:
        return False
    enqueue_later(min(left, max_countdown()), write_batch, tenant_id, op_ids, looked, not_before)
    return True


def _run_batch(task: Task[Any, Any], tenant_id: str, op_ids: list[int], looked: int, booked: bool = False) -> list[int]:
    """Work the batch; returns the lost creates to look up again after a pause. `booked`: the batch comes back
    at a time it booked on the bucket."""
    b = Batch(task, tenant_id, looked, booked=booked)
    with locked_entries(op_ids) as mine:
        rest, not_before = _work(b, mine)  # entries found done (a redelivered batch) are skipped as they are read
    # The locks are released before anything is queued again, so a quick next attempt is not turned away.
    left = not_before - time.time()
    if rest and left > 0:
        enqueue_later(min(left, max_countdown()), write_batch, tenant_id, rest, looked, not_before)
    elif rest:
        enqueue(write_batch, tenant_id, rest, looked)
    if b.transient is not None:
        # Retried as a whole (its done entries are skipped), with the backoff and give-up budget of any failure:
        # one retry per failure streak of an entry, not one per entry that failed once.
        exc, op = b.transient
        handle_failure(task, exc, b.attempt(op))
        return []
    _finish_runs_if_done(b)
    return b.look_again


def _work(b: Batch, op_ids: list[int]) -> tuple[list[int], float]:
    """Send the entries a group at a time; returns those left for a new task (when the batch ran out of time, or
    handed them back to wait for the bucket) and the time booked for them (0: none)."""
    budget = _time_budget()
    outcomes: list[Outcome] = []
    n = 0
    with Sender(get_settings().write_concurrency) as sender:
        while n < len(op_ids) and not b.stop:
            if time.monotonic() - b.started > budget:
                _close_batch(b, outcomes)
                return op_ids[n:], 0.0
            taken = _take(b, op_ids[n : n + sender.width], outcomes)
            outcomes = []
            n += taken.consumed
            if b.stop:
                break
            if taken.wait:
                return op_ids[n:], hand_back(b, len(op_ids) - n, taken.wait)
            if taken.pause:
                time.sleep(taken.pause)
            if taken.look is not None:
                outcomes = _listed(look_for_lost_create(b, taken.look))
            elif taken.group:
                outcomes = _send_group(b, sender, taken.group, taken.slots)
    _close_batch(b, outcomes)
    return [], 0.0


def _listed(outcome: Outcome | None) -> list[Outcome]:
    return [] if outcome is None else [outcome]


def _time_budget() -> float:
    """How long a batch takes new entries: well inside the broker's redelivery timeout (the stale-run time) and
    the soft time limit, so a slow, rate-limited batch is neither redelivered nor cut off mid-request."""
    settings = get_settings()
    return min(max(60, settings.stale_run_seconds), settings.task_soft_time_limit_seconds) / 2


@dataclass
class _Taken:
    consumed: int = 0  # entries of the candidates dealt with (taken, or found done or gone)
    group: list[tuple[WriteOp, W]] = field(default_factory=list)  # marked `in_flight`, with their state before
    look: WriteOp | None = None  # a create that may have reached the platform, to be looked for alone
    wait: float = 0.0  # the bucket would keep the next group waiting this long: the rest is handed back
    pause: float = 0.0  # the bucket frees a slot this soon: the batch waits for it (no group was taken)
    slots: tuple[int, ...] = ()  # the group's rate-limit slots, noted answered once its requests are


def _take(b: Batch, candidates: list[int], outcomes: list[Outcome]) -> _Taken:
    """One transaction: record the previous group's outcomes, then read the next entries and mark a group of them
    `in_flight` together (on disk before any of their requests goes out: a worker killed mid-request leaves the
    sign that each create may have arrived). A group is of one run; a create to be looked for goes alone. The
    group's slots are taken from the bucket before it is marked, all at once (`providers.ratelimit.reserve`), and
    it is cut to the slots taken: its requests then never wait for a slot while they hold the worker process."""
    broken: tuple[Exception, WriteOp] | None = None
    taken = _Taken()
    chosen: list[tuple[WriteOp, W, int]] = []  # with its state before and the entries dealt with before it
    with db.session() as s:
        # The entries to record and the candidates, with their app contacts, are read in one query (and held in
        # `held` while the session works: its identity map keeps only objects someone references).
        ids = [*candidates, *(o.op.id for o in outcomes)]
        rows: dict[int, WriteOp] = {}
        held: list[object] = []
        for entry, app in s.execute(
            select(WriteOp, AppContact)
            .outerjoin(AppContact, AppContact.id == WriteOp.app_contact_id)
            .where(WriteOp.id.in_(ids))
            .options(_APP_IDS_ONLY)
        ):
            rows[entry.id] = entry
            held.append(app)
        # Their connections (one, as a rule) in a statement of their own: joined, every entry's row carried its
        # connection's columns, options and credentials included, for the ORM to read and throw away.
        if rows:
            connection_ids = sorted({e.connection_id for e in rows.values()})
            held += s.scalars(select(Connection).where(Connection.id.in_(connection_ids))).all()
        # Every run the batch touches is checked for its end afterwards, as a done entry may be a run's last.
        b.runs.update(e.run_id for e in rows.values() if e.run_id is not None and e.tenant_id == b.tenant_id)
        _apply_all(s, b, outcomes, loaded=True)
        _keep_alive(s, b)
        for op_id in candidates:
            op = rows.get(op_id)
            if op is None or op.tenant_id != b.tenant_id or op.status not in ACTIVE_WRITE_STATES:
                taken.consumed += 1
                continue
            first = chosen[0][0] if chosen else None
            if first is not None and (first.run_id, first.connection_id) != (op.run_id, op.connection_id):
                break
            previous = W(op.status)
            conn = owned_connection(s, b.tenant_id, op.connection_id)
            if conn.status != ConnectionStatus.ACTIVE:
                b.stop = True
                break
            if b.provider is None or b.conn is None or b.conn.id != conn.id:
                b.conn = conn
                try:
                    b.provider, b.calls = provider_for(conn)
                except Exception as exc:  # credentials that cannot be decrypted, an option the dialect rejects
                    b.stop, broken = True, (exc, op)
                    break
            # A create that may have reached the platform is looked for, not sent, unless the platform replays.
            if op.kind == "create" and previous != W.PENDING and not _replays(b):
                if not chosen:
                    taken.look = op
                    taken.consumed += 1
                break
            chosen.append((op, previous, taken.consumed))
            taken.consumed += 1
        if chosen and b.conn is not None:
            slots = reserve(b.conn.id, requests_per_minute(b.conn), len(chosen))
            if slots.room < len(chosen):
                # The candidates from the first entry without a slot on are left to the next group.
                taken.consumed = chosen[slots.room][2]
            if not slots.room and slots.wait > HAND_BACK_SECONDS:
                taken.wait = slots.wait  # the rest is handed back (unmarked) to come back when the bucket frees
            elif not slots.room:
                taken.pause = max(slots.wait, 0.01)  # a slot frees in a moment: worth waiting for here
            taken.slots = slots.slots
            for op, previous, _before in chosen[: slots.room]:
                move_write(op, W.IN_FLIGHT)
                op.attempts += 1
                if op.first_sent_at is None:
                    op.first_sent_at = utcnow()
                taken.group.append((op, previous))
        save_writes(s, [op for op, _previous in taken.group])
        s.flush()
        s.expunge_all()
    if broken is not None:
        handle_failure(b.task, broken[0], b.attempt(broken[1]))
    return taken


def _replays(b: Batch) -> bool:
    """Whether the platform replays a request sent again with the same Idempotency-Key."""
    return b.provider is not None and b.provider.idempotency


def _apply_all(s: Session, b: Batch, outcomes: list[Outcome], loaded: bool = False) -> None:
    """Record outcomes together: their entries, app contacts and connection are read in one query each (and held
    here, as the session's identity map keeps only objects someone holds), the answers written in a few
    statements for the whole group (`record_answers`), the changes feed numbered once at commit. `loaded`: the
    caller has read (and holds) the entries, their app contacts and connections already."""
    if not outcomes:
        return
    held: list[object] = []
    if not loaded:
        held += [s.get(Connection, b.conn.id)] if b.conn is not None else []
        held += s.scalars(select(WriteOp).where(WriteOp.id.in_([o.op.id for o in outcomes]))).all()
        app_ids = [o.op.app_contact_id for o in outcomes if o.contact is not None]
        if app_ids:
            held += s.scalars(select(AppContact).where(AppContact.id.in_(app_ids)).options(_APP_IDS_ONLY)).all()
    answers: list[Answer] = []
    for outcome in outcomes:
        live = s.get(WriteOp, outcome.op.id)
        assert live is not None
        if outcome.contact is None:
            if live.status != W.DONE and outcome.status is not None:
                move_write(live, outcome.status)
                live.last_error = outcome.error[:2000]
        elif live.kind != "create" or live.status != W.DONE or not outcome.adopted:
            answers.append(Answer(live, outcome.contact, outcome.adopted))
            b.count(live.run_id, **{"created_remote" if live.kind == "create" else "updated_remote": 1})
    record_answers(s, answers)
    held.clear()


def _keep_alive(s: Session, b: Batch) -> None:
    """A long batch still shows its runs alive, so the stale-run re-drive leaves them be."""
    now = time.monotonic()
    if now - b.touched > get_settings().stale_run_seconds / 3:
        for run_id in b.runs:
            touch(s, run_id)
        b.touched = now


def _close_batch(b: Batch, outcomes: list[Outcome]) -> None:
    """The last outcomes and the batch's counters, in one transaction."""
    with db.session() as s:
        _apply_all(s, b, outcomes)
        b.add_counts(s)


def _send_group(b: Batch, sender: Sender, group: list[tuple[WriteOp, W]], slots: tuple[int, ...]) -> list[Outcome]:
    """Send the group's requests at once; returns the answers to record. A failed entry is dealt with in batch
    order, after the group's answers are on disk: its failure may end the task (a retry), and an answer left
    unrecorded would leave its create in doubt for nothing. The group's slots are noted answered when the last of
    its requests is (`providers.ratelimit`: a slot's minute starts when its request's answer is in); not when the
    task is cut short while waiting for them (its time limit), since its requests are still out then: the
    slots are held for the longest a request may take."""
    provider, conn = b.provider, b.conn
    assert provider is not None and conn is not None
    results = sender.run([_call(provider, op) for op, _previous in group])
    answered(conn.id, slots)
    b.count(group[0][0].run_id, api_calls=b.calls.take())
    outcomes = [Outcome(op, contact=r.value) for (op, _p), r in zip(group, results, strict=True) if r.error is None]
    failed = [(op, previous, r.error) for (op, previous), r in zip(group, results, strict=True) if r.error]
    if failed and outcomes:
        _close_batch(b, outcomes)
        outcomes = []
    settle_failures(b, failed)
    return outcomes


def _call(provider: Provider, op: WriteOp) -> Callable[[], CanonicalContact]:
    """The entry's request, ready to run in any thread (no database, no task state)."""
    if op.kind == "create":
        contact = CanonicalContact.model_validate(dict(op.payload))
        return lambda: _prepaid(provider.create, contact, idempotency_key=op.idempotency_key)
    assert op.remote_id is not None
    remote_id, changes = op.remote_id, dict(op.payload["changes"])
    return lambda: _prepaid(provider.update, remote_id, changes)


def _prepaid(send: Callable[..., CanonicalContact], *args: Any, **kwargs: Any) -> CanonicalContact:
    """The request spends the slot its group took (`_take`)."""
    with prepaid_slot():
        return send(*args, **kwargs)


def _finish_runs_if_done(b: Batch) -> None:
    """After the batch's last commit: a run none of whose entries is still open ends here. Whichever batch commits
    last sees every other one's work, so exactly one of them finds nothing open; the row lock decides ties."""
    for run_id in sorted(b.runs):
        with db.session() as s:
            if has_open_writes(s, b.tenant_id, run_id):
                continue
            run = lock_run(s, b.tenant_id, run_id)
            # Asked again with the row locked: planning may have committed the run's pairs since, setting
            # `writes_planned` with their entries (`tasks.plan`).
            if (
                run is not None
                and run.status == R.WRITING
                and run.writes_planned
                and not has_open_writes(s, b.tenant_id, run_id)
            ):
                finish_writing(s, run)
