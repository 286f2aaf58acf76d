"""The one provider-failure policy of the pipeline: what a fetch or write task does when its work raised.

Every run must end, with a reason a person can act on. So:

- `RateLimited` and `Transient` are retried with capped, jittered backoff (a platform's Retry-After is obeyed
  but cut to `CONTACTSYNC_MAX_RETRY_AFTER_SECONDS`), but only while the run's give-up budget lasts: once a run
  has gone `CONTACTSYNC_GIVE_UP_SECONDS` failing without progress, it ends `failed` with the last error and the
  tenant's schedule tries again later.
- `AuthLost` pauses the run and marks the connection for re-authorisation.
- `Permanent` (and a bare `ProviderError`) fails the fetch's run; a refused write fails only its ledger entry.
- A task that passes its soft time limit counts as a transient failure (see `classify`).
- Configuration errors (a key that cannot decrypt the credentials) and any unexpected exception fail the run
  with the exception's one-line text, instead of leaving it `fetching` for the stale-run re-drive forever.
- Database and broker outages are not decided here: they are re-raised for the tasks' infrastructure retry.
  When even that retry cannot be queued (the broker gone as it retries), the run is left for the stale-run
  re-drive, not failed.

The budget counts from the first failure of a streak, and a streak ends when the run has moved on (pages
fetched, contacts written) between two failures; it is kept in Redis beside the run so that every worker
retrying one of the run's tasks charges the same budget.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

import redis
from celery import Task
from celery.exceptions import Reject, SoftTimeLimitExceeded
from celery.signals import task_failure

from contactsync import db
from contactsync.logs import get_logger
from contactsync.models import ACTIVE_RUN_STATES, RunStatus
from contactsync.providers.errors import AuthLost, ProviderError, RateLimited, Transient
from contactsync.providers.pool import CallMeter
from contactsync.providers.ratelimit import note_rate_limited
from contactsync.redact import redact
from contactsync.redis_keys import failure_streak_key
from contactsync.settings import get_settings
from contactsync.store.runs import add_counters, get_run, lock_run, transition_run
from contactsync.store.tenants import connection_secrets
from contactsync.tasks.outcomes import pause_for_reauth, retry_delay
from contactsync.worker.app import INFRA_ERRORS

log = get_logger(__name__)

_MAX_TEXT = 2000


class Failure(StrEnum):
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    AUTH_LOST = "auth_lost"
    PERMANENT = "permanent"
    # Not a provider's answer: a configuration error or a bug. Fails the run whatever the stage.
    UNEXPECTED = "unexpected"


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, RateLimited):
        return Failure.RATE_LIMITED
    # A task past its soft time limit is sent again like a transient failure: a long walk resumes at its last
    # committed page, while one that makes no progress at all runs out of budget and fails.
    if isinstance(exc, Transient | SoftTimeLimitExceeded):
        return Failure.TRANSIENT
    if isinstance(exc, AuthLost):
        return Failure.AUTH_LOST
    if isinstance(exc, ProviderError):
        return Failure.PERMANENT
    return Failure.UNEXPECTED


def one_line(exc: BaseException) -> str:
    """The exception as one line of text a person can read in `runs` (its class name when it has no message)."""
    if isinstance(exc, SoftTimeLimitExceeded):
        return "the task ran past its time limit (CONTACTSYNC_TASK_SOFT_TIME_LIMIT_SECONDS)"
    text = str(exc)
    if isinstance(exc, ProviderError) and exc.details:
        text = f"{text} {exc.details}"  # the platform's own words, e.g. which field it refused
    elif not isinstance(exc, ProviderError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return " ".join(text.split())[:_MAX_TEXT]


@dataclass(frozen=True)
class Attempt:
    """What failed: one task's work for one tenant's run (`run_id` None for a write left over without a run)."""

    stage: str  # "fetch", "reconcile" or "write": the prefix of the run's error
    tenant_id: str
    run_id: int | None
    connection_id: int
    calls: CallMeter


def handle(
    task: Task[Any, Any],
    exc: BaseException,
    attempt: Attempt,
    *,
    record: Callable[[Failure, str], None] | None = None,
) -> None:
    """Decide retry, give up, pause or fail for `exc`; raises Celery's `Retry` when the task is to run again.

    `record(kind, text)` lets the task keep its own side (a ledger entry's state) before the decision; the
    calls made so far are counted into the run here.
    """
    if isinstance(exc, INFRA_ERRORS):  # our own infrastructure out of reach: the task is retried as a whole
        raise exc
    kind = classify(exc)
    with db.session() as s:
        text = redact(one_line(exc), connection_secrets(s, attempt.connection_id))
    if isinstance(exc, RateLimited) and exc.status == 429:
        # The platform's word, not our own bucket's wait: every worker holds this connection back.
        note_rate_limited(attempt.connection_id, _capped(exc.retry_after))
    if record is not None:
        record(kind, text)
    _count_calls(attempt)
    if kind in (Failure.RATE_LIMITED, Failure.TRANSIENT):
        _retry_or_give_up(task, exc, attempt, kind, text)
        return
    if kind is Failure.AUTH_LOST:
        if attempt.run_id is not None:
            pause_for_reauth(attempt.tenant_id, attempt.run_id, attempt.connection_id, text)
        return
    if kind is Failure.PERMANENT and attempt.stage == "write":
        log.warning("write refused by the platform", run_id=attempt.run_id, error=text)
        return
    log.warning(f"{attempt.stage} failed", run_id=attempt.run_id, error=text, failure=str(kind))
    fail_run(attempt, text)


def fail_run(attempt: Attempt, text: str) -> None:
    """End the attempt's run `failed` with `stage: text`, if it is still active."""
    if attempt.run_id is None:
        return
    with db.session() as s:
        run = lock_run(s, attempt.tenant_id, attempt.run_id)
        if run is not None and run.status in ACTIVE_RUN_STATES:
            transition_run(s, run, RunStatus.FAILED, f"{attempt.stage}: {text}"[:_MAX_TEXT])
    _forget_streak(attempt.run_id)


def _retry_or_give_up(task: Task[Any, Any], exc: BaseException, attempt: Attempt, kind: Failure, text: str) -> None:
    wait = _wait_for(exc, task.request.retries or 0)
    if attempt.run_id is None:
        _retry(task, wait)
    progress = _progress(attempt)
    if progress is None:
        return  # the run ended meanwhile (failed, paused, done): its next run takes the work up
    budget = get_settings().give_up_seconds
    left = budget - _streak_age(attempt.run_id, progress)
    if left <= 0 or (kind is Failure.RATE_LIMITED and wait > left):
        what = "rate limited" if kind is Failure.RATE_LIMITED else "failing"
        log.warning("giving up on run", run_id=attempt.run_id, error=text, budget=budget)
        fail_run(attempt, f"gave up after {budget:.0f} s {what} without progress: {text}")
        return
    _note_retrying(attempt, text)
    # A transient failure is tried once more at the budget's end rather than after it.
    _retry(task, min(wait, max(left, 0.5)))


def _retry(task: Task[Any, Any], countdown: float) -> NoReturn:
    raise task.retry(countdown=countdown) from None


def _wait_for(exc: BaseException, retries: int) -> float:
    asked = getattr(exc, "retry_after", None)
    if isinstance(asked, int | float) and asked == asked:  # not NaN
        return _capped(float(asked))
    return retry_delay(retries)


def _capped(seconds: float) -> float:
    """A server's wait, never negative and never longer than the configured cap (an infinite one included)."""
    return min(max(seconds, 0.0), get_settings().max_retry_after_seconds)


def _progress(attempt: Attempt) -> int | None:
    """How far the run has got, as one number that grows with every page fetched and every write done; None when
    the run is no longer active."""
    assert attempt.run_id is not None
    with db.session() as s:
        run = get_run(s, attempt.tenant_id, attempt.run_id)
        if run is None or run.status not in ACTIVE_RUN_STATES:
            return None
        return run.pages_fetched + run.linked + run.created_remote + run.updated_remote + run.updated_app


def _note_retrying(attempt: Attempt, text: str) -> None:
    """The last error stays on the active run, so `sync --wait` and `runs` show why it is not moving."""
    assert attempt.run_id is not None
    with db.session() as s:
        run = get_run(s, attempt.tenant_id, attempt.run_id)
        if run is not None and run.status in ACTIVE_RUN_STATES:
            run.error = f"{attempt.stage}: retrying after {text}"[:_MAX_TEXT]


@functools.lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _streak_age(run_id: int, progress: int) -> float:
    """Seconds since the run's current failure streak began; a streak starts anew when the run has progressed."""
    settings = get_settings()
    key = failure_streak_key(settings.redis_prefix, run_id)
    client = _redis(settings.require_redis_url())
    now = time.time()
    seen = client.hgetall(key)
    if seen.get(b"progress") != str(progress).encode():
        client.hset(key, mapping={"since": now, "progress": progress})
        client.expire(key, int(settings.give_up_seconds + settings.max_retry_after_seconds) + 3600)
        return 0.0
    return now - float(seen[b"since"])


def _forget_streak(run_id: int) -> None:
    settings = get_settings()
    _redis(settings.require_redis_url()).delete(failure_streak_key(settings.redis_prefix, run_id))


def _count_calls(attempt: Attempt) -> None:
    if attempt.run_id is None:
        attempt.calls.take()
        return
    with db.session() as s:
        add_counters(s, attempt.run_id, api_calls=attempt.calls.take())


# Pipeline tasks without a provider call, by name: a bug or a time limit in one fails the run it works for (the
# task's second argument) instead of leaving it for the stale-run re-drive to send again every few minutes.
_RUN_TASKS = {
    "contactsync.reconcile": "reconcile",
    "contactsync.advance": "reconcile",
    "contactsync.plan_writes": "write",
    "contactsync.plan_pairs": "write",
}


@task_failure.connect
def _fail_the_run_of_a_failed_task(
    sender: Any = None, exception: BaseException | None = None, args: Any = None, **_: Any
) -> None:
    stage = _RUN_TASKS.get(str(getattr(sender, "name", "")))
    if stage is None or exception is None or not args or len(args) < 2:
        return
    tenant_id, run_id = args[0], args[1]
    if not isinstance(tenant_id, str) or not isinstance(run_id, int):
        return
    reason = getattr(exception, "reason", None) if isinstance(exception, Reject) else None  # untyped in the stubs
    if isinstance(reason, INFRA_ERRORS):
        # The task's infrastructure retry could not be queued (the broker out of reach as it retried): Celery
        # rejects the message and reports a failure. Not the run's: it is left active, and the stale-run
        # re-drive sends its stage again (found by a soak: a plan_writes retried while Redis restarted).
        log.warning("a task's retry could not be queued; its run is left for the re-drive", run_id=run_id,
                    error=one_line(reason))  # fmt: skip
        return
    try:
        fail_run(Attempt(stage, tenant_id, run_id, 0, CallMeter()), one_line(exception))
    except Exception:  # the database may be what failed: the stale-run re-drive is left to try again
        log.warning("could not fail the run of a failed task", run_id=run_id, exc_info=True)
