"""A write batch's state, and what becomes of its entries that need more than a send: a failed request, a
create whose answer was lost, looked for instead of sent again, and entries handed back to wait for the bucket.

Kept apart from `tasks.write` (which takes, sends and records groups of entries) so that each reads as one
concern; the rules are those of the module docstring there.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from celery import Task
from celery.exceptions import Retry
from sqlalchemy.orm import Session

from contactsync import db
from contactsync.contact import CanonicalContact
from contactsync.logs import get_logger
from contactsync.models import Connection, WriteOp
from contactsync.models import WriteState as W
from contactsync.providers.base import Provider
from contactsync.providers.errors import AuthLost, LookupIncomplete, ProviderError, RateLimited, Transient
from contactsync.providers.pool import CallMeter
from contactsync.providers.ratelimit import book_later
from contactsync.redact import redact
from contactsync.settings import get_settings
from contactsync.store.lost_creates import echo_among
from contactsync.store.runs import add_counters, touch
from contactsync.store.tenants import connection_secrets, requests_per_minute
from contactsync.store.write_states import move_write
from contactsync.tasks.failures import Attempt, Failure, classify, one_line
from contactsync.tasks.failures import handle as handle_failure

log = get_logger(__name__)
# A batch whose bucket would keep it waiting longer hands its entries back rather than hold its worker process:
# a hand-back costs a message and a transaction or two, tens of milliseconds; waits shorter than this are not
# worth it (and are what a group of requests sent at the bucket's pace waits anyway).
HAND_BACK_SECONDS = 0.5


@dataclass
class Outcome:
    """What became of one sent (or looked-up) entry, written by the transaction that takes the next group."""

    op: WriteOp
    contact: CanonicalContact | None = None  # the platform's answer, or the echo a look-up found
    adopted: bool = False
    status: W | None = None  # else: a state to set (looked up and not found)
    error: str = ""


@dataclass
class Batch:
    """One write task's state while it works through its entries."""

    task: Task[Any, Any]
    tenant_id: str
    looked: int  # look-ups the lost creates of this batch have had
    booked: bool = False  # handed back before, it comes at a time it booked on the bucket (`tasks.write`)
    calls: CallMeter = field(default_factory=CallMeter)  # the leased provider's own, once it is open
    provider: Provider | None = None
    conn: Connection | None = None
    # Counter deltas per run, added to the runs once, when the batch ends (or before a failure is handled).
    counts: dict[int, Counter[str]] = field(default_factory=dict)
    runs: set[int] = field(default_factory=set)
    look_again: list[int] = field(default_factory=list)  # lost creates not found yet, looked up again later
    # The last failure of an entry alone (a 5xx, a dropped answer): the batch goes on, and is retried at its end.
    transient: tuple[Transient, WriteOp] | None = None
    stop: bool = False  # the run failed or paused, or the connection is not active: the rest waits
    started: float = field(default_factory=time.monotonic)
    touched: float = field(default_factory=time.monotonic)

    def count(self, run_id: int | None, **deltas: int) -> None:
        if run_id is not None:
            self.runs.add(run_id)
            self.counts.setdefault(run_id, Counter()).update(deltas)

    def add_counts(self, s: Session) -> None:
        for run_id, counts in self.counts.items():
            if any(counts.values()):
                add_counters(s, run_id, **counts)
        self.counts.clear()

    def flush_counts(self) -> None:
        """The counters now, in their own transaction: before a failure is handled (which may end the task)."""
        if any(any(c.values()) for c in self.counts.values()):
            with db.session() as s:
                self.add_counts(s)

    def attempt(self, op: WriteOp) -> Attempt:
        assert self.conn is not None
        return Attempt("write", self.tenant_id, op.run_id, self.conn.id, self.calls)


def settle_failures(b: Batch, failed: list[tuple[WriteOp, W, Exception]]) -> None:
    """Each failed entry of a group gets its state; the task's fate (a retry) is decided once, by the first
    failure that asks for it, and raised after every entry of the group is settled."""
    retry: Retry | None = None
    for op, previous, exc in failed:
        if retry is not None and not isinstance(exc, Transient):
            _record_failure(b, op, previous, classify(exc), _error_text(op, exc))
            continue
        try:
            _failed(b, op, previous, exc)
        except Retry as asked:
            retry = asked
    if retry is not None:
        raise retry


def _failed(b: Batch, op: WriteOp, previous: W, exc: Exception) -> None:
    if isinstance(exc, Transient):
        # This entry alone failed (a 5xx, a dropped connection, an answer lost after the platform committed): the
        # rest of the batch goes on. A create is looked for (or repeated with its Idempotency-Key) on the retry.
        _set_status(op, W.UNCERTAIN if op.kind == "create" else W.PENDING, _error_text(op, exc))
        b.transient = (exc, op)
        return
    handle_failure(b.task, exc, b.attempt(op), record=lambda kind, error: _record_failure(b, op, previous, kind, error))


def _record_failure(b: Batch, op: WriteOp, previous: W, kind: Failure, error: str) -> None:
    if kind is Failure.PERMANENT:
        _set_status(op, W.FAILED, error)
        b.count(op.run_id, write_errors=1)
    elif kind in (Failure.TRANSIENT, Failure.UNEXPECTED):
        # A create whose answer was lost may have been committed: the next attempt looks (or, with an
        # Idempotency-Key, repeats the very same request) before anything is sent again.
        _set_status(op, W.UNCERTAIN if op.kind == "create" else W.PENDING, error)
    else:
        _set_status(op, previous, error)
    if kind is not Failure.PERMANENT:
        b.stop = True  # a refused entry is its own; anything else holds the rest
    b.flush_counts()


def look_for_lost_create(b: Batch, op: WriteOp) -> Outcome | None:
    """Look for the echo of a create that may have been committed; adopt it, or look again, or park it.

    Nothing here sends the create: a look-up that finds nothing, is cut short, or is refused (a 4xx on a read is
    not a refused write) is no evidence of absence.
    """
    assert b.provider is not None and b.conn is not None
    problem = "not found yet"
    try:
        echo = _lookup(op, b.conn.dialect, b.provider, dict(op.payload))
    except (RateLimited, AuthLost) as exc:

        def record(kind: Failure, error: str) -> None:
            _set_status(op, W.UNCERTAIN, f"look-up: {error}")
            b.stop = True
            b.flush_counts()

        handle_failure(b.task, exc, b.attempt(op), record=record)
        return None
    except (LookupIncomplete, ProviderError) as exc:  # not evidence of absence, nor a refused write
        echo, problem = None, f"look-up inconclusive: {exc}"
    b.count(op.run_id, api_calls=b.calls.take())
    if echo is not None:
        return Outcome(op, contact=echo, adopted=True)
    if b.looked + 1 < get_settings().lost_create_lookups:
        b.look_again.append(op.id)
        return Outcome(op, status=W.UNCERTAIN, error=problem)
    log.info("lost create parked", op_id=op.id, run_id=op.run_id)
    why = f"parked, {problem}: waiting for its echo or a walk proving its absence"
    return Outcome(op, status=W.PARKED, error=why)


def _lookup(op: WriteOp, dialect: str, provider: Provider, payload: dict[str, Any]) -> CanonicalContact | None:
    """By name and by the first email (a platform may re-spell a name its filter then misses). No database
    session is held while the platform answers."""
    emails = payload.get("emails") or []
    found = provider.search(name=str(payload["name"]), email=str(emails[0]) if emails else None)
    with db.session() as s:
        return echo_among(s, op, dialect, found)


def _error_text(op: WriteOp, exc: BaseException) -> str:
    with db.session() as s:
        return redact(one_line(exc), connection_secrets(s, op.connection_id))


def _set_status(op: WriteOp, status: W, error: str) -> None:
    with db.session() as s:
        live = s.get(WriteOp, op.id)
        if live is not None and live.status != W.DONE:
            move_write(live, status)
            live.last_error = error[:2000]


def max_countdown() -> float:
    """The longest a message may wait for its time: well inside the broker's visibility timeout (`worker.app`),
    after which a message held unacknowledged would be delivered a second time."""
    return max(60, get_settings().stale_run_seconds) / 2


def hand_back(b: Batch, entries: int, wait: float) -> float:
    """When the entries handed back are to come back; their runs are shown alive (waiting, not stalled).

    A batch handed back for the first time books its place, so that the tenant's batches come back at the bucket's
    pace rather than all at once. One that comes back at its booked time and still finds the bucket empty (the
    moving window frees its slots in the bursts they were taken in, not at an even pace) comes back as soon as the
    bucket frees a slot: it has had its place, and going to the end of the line would leave the burst unused."""
    assert b.conn is not None
    if b.booked:
        not_before = time.time() + wait
    else:
        not_before = book_later(b.conn.id, requests_per_minute(b.conn), entries, time.time() + wait)
    with db.session() as s:
        b.add_counts(s)
        for run_id in b.runs:
            touch(s, run_id)
    log.debug("write batch handed back", entries=entries, wait=round(wait, 2), after=round(not_before - time.time(), 2))
    return not_before
