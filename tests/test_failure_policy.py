"""The failure policy's decisions, against the real database and Redis (the task is the only stand-in: it records
the retry it is asked for instead of queueing one)."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from kombu import Connection as BrokerConnection
from kombu.exceptions import OperationalError as BrokerUnreachable
from sqlalchemy import select

from contactsync import db
from contactsync.embedded import refresh_process_settings
from contactsync.models import Connection, SyncRun
from contactsync.providers.errors import Permanent, RateLimited, Transient
from contactsync.providers.pool import CallMeter
from contactsync.store.runs import start_run
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.failures import Attempt, handle


class Retried(Exception):
    def __init__(self, countdown: float) -> None:
        super().__init__(countdown)
        self.countdown = countdown


@dataclass
class Request:
    retries: int = 0


@dataclass
class StubTask:
    request: Request = field(default_factory=Request)

    def retry(self, countdown: float) -> Retried:
        return Retried(countdown)


@pytest.fixture
def attempt(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Attempt:
    monkeypatch.setenv("CONTACTSYNC_GIVE_UP_SECONDS", "1")
    refresh_process_settings()
    with db.session() as s:
        upsert_tenant(s, "t1", name="T", dialect="merge", base_url="https://x.example", api_key="sk_live_abcdef",
                      account_token="acct_token_ghijkl")  # fmt: skip
        conn = s.scalar(select(Connection))
        assert conn is not None
        run = start_run(s, conn)
        assert run is not None
        return Attempt("fetch", "t1", run.id, conn.id, CallMeter())


def run_of(attempt: Attempt) -> SyncRun:
    with db.session() as s:
        run = s.get(SyncRun, attempt.run_id)
        assert run is not None
        return run


def decide(attempt: Attempt, exc: BaseException) -> float | None:
    """The countdown of the retry asked for, or None when the policy ended (or left) the run instead."""
    try:
        handle(StubTask(), exc, attempt)  # type: ignore[arg-type]
    except Retried as retried:
        return retried.countdown
    return None


def test_transient_failures_retry_until_the_budget_is_spent_then_fail_with_the_last_error(attempt: Attempt) -> None:
    assert decide(attempt, Transient("merge: GET /contacts timed out")) is not None
    assert "retrying after merge: GET /contacts timed out" in (run_of(attempt).error or "")
    time.sleep(1.1)
    assert decide(attempt, Transient("merge: GET /contacts answered 503")) is None
    run = run_of(attempt)
    assert run.status == "failed"
    assert run.error == "fetch: gave up after 1 s failing without progress: merge: GET /contacts answered 503"


def test_progress_between_failures_starts_the_budget_anew(attempt: Attempt) -> None:
    assert decide(attempt, Transient("blip")) is not None
    time.sleep(1.1)
    with db.session() as s:
        run = s.get(SyncRun, attempt.run_id)
        assert run is not None
        run.pages_fetched += 1
    assert decide(attempt, Transient("another blip")) is not None
    assert run_of(attempt).status == "fetching"


def test_an_endless_retry_after_is_capped_and_beyond_the_budget_ends_the_run(attempt: Attempt) -> None:
    assert decide(attempt, RateLimited("429", retry_after=float("inf"))) is None
    run = run_of(attempt)
    assert run.status == "failed" and "gave up after 1 s rate limited" in (run.error or "")


def test_unexpected_errors_fail_the_run_in_one_line_and_secrets_are_masked(attempt: Attempt) -> None:
    assert decide(attempt, Permanent("merge: 400 (you sent Bearer sk_live_abcdef\nand acct_token_ghijkl)")) is None
    run = run_of(attempt)
    assert run.status == "failed"
    assert run.error == "fetch: merge: 400 (you sent Bearer [redacted] and [redacted])"


def test_a_bug_fails_the_run_with_its_type_and_message(attempt: Attempt) -> None:
    failure: Any = KeyError("results")
    assert decide(attempt, failure) is None
    assert run_of(attempt).error == "fetch: KeyError: 'results'"


def test_a_broker_out_of_reach_is_retried_by_the_task_and_never_fails_the_run(attempt: Attempt) -> None:
    """A message a task sends while Redis restarts fails with kombu's own error, not redis-py's (a soak's fetch
    ended `failed` on it). It is our infrastructure, not the platform: the task is retried, the run goes on."""
    with socket.socket() as probe:  # a port nothing listens on: the real connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BrokerUnreachable) as refused, BrokerConnection(f"redis://127.0.0.1:{port}/0") as broker:
        broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
    with pytest.raises(BrokerUnreachable):
        decide(attempt, refused.value)
    run = run_of(attempt)
    assert run.status == "fetching" and run.error is None


def test_a_retry_the_broker_could_not_take_leaves_the_run_for_the_re_drive(attempt: Attempt) -> None:
    """A task's infrastructure retry that cannot be queued (Redis gone as it retries) makes Celery reject the
    message and send `task_failure` with `Reject(reason)` (a soak's run failed "write: Reject: (OperationalError
    …)"). The run is left active for the stale-run re-drive; any other failure of such a task still fails it."""
    from celery.exceptions import Reject
    from celery.signals import task_failure

    from contactsync.tasks.plan import plan_writes

    refused = BrokerUnreachable("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
    task_failure.send(sender=plan_writes, task_id="x", exception=Reject(refused, requeue=False),
                      args=["t1", attempt.run_id], kwargs={}, traceback=None, einfo=None)  # fmt: skip
    run = run_of(attempt)
    assert run.status == "fetching" and run.error is None
    task_failure.send(sender=plan_writes, task_id="y", exception=KeyError("results"),
                      args=["t1", attempt.run_id], kwargs={}, traceback=None, einfo=None)  # fmt: skip
    run = run_of(attempt)
    assert run.status == "failed" and run.error == "write: KeyError: 'results'"


def test_a_failed_planning_of_the_linked_pairs_fails_the_run(attempt: Attempt) -> None:
    """The pairs are planned by a task of their own: a bug there fails the run like one in the creates' planning,
    instead of leaving it writing, its `writes_planned` cleared, for the re-drive to plan again and again."""
    from celery.signals import task_failure

    from contactsync.tasks.plan import plan_linked_pairs

    task_failure.send(sender=plan_linked_pairs, task_id="z", exception=KeyError("pairs"),
                      args=["t1", attempt.run_id, 0], kwargs={}, traceback=None, einfo=None)  # fmt: skip
    run = run_of(attempt)
    assert run.status == "failed" and run.error == "write: KeyError: 'pairs'"
