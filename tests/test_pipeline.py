"""End to end: real Celery worker processes, PostgreSQL, Redis and the sandbox provider over HTTP.

The assertions are about the platform's final state, read back from the sandbox: every app contact exists there
exactly once, nothing the platform already had was created again, and a second sync creates nothing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select

from contactsync import db
from contactsync.models import Link, RemoteContact, WriteOp
from contactsync.store.statistics import BULK_TABLES
from contactsync.tasks.schedule import trigger_sync
from tests.conftest import Workers
from tests.pipeline import (
    analyses,
    assert_each_app_contact_once,
    autovacuum_off,
    kill_worker,
    platform_contacts,
    setup_tenant,
    sync_until_settled,
    wait_run,
)

pytestmark = pytest.mark.pipeline


def assert_analyzed(table: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while analyses(table)[0] < 1:
        assert time.monotonic() < deadline, f"{table} was never analyzed"
        time.sleep(0.5)


@pytest.mark.parametrize("dialect", ["merge", "maesn"])
def test_full_then_incremental_sync(env: dict[str, str], workers: Workers, sandbox: Any, dialect: str) -> None:
    split, token = setup_tenant(sandbox, size=240, seed=11, dialect=dialect)
    autovacuum_off(BULK_TABLES)
    workers.start(2)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    run = wait_run(run_id, workers)
    assert run.status == "succeeded", run.error
    app_only = len(split.app) - split.both
    assert run.fetched == len(split.remote)
    assert run.mirrored == len(split.remote)  # a first walk writes every record it reads
    assert run.created_remote == app_only
    rows = platform_contacts(sandbox, token)
    assert len(rows) == len(split.remote) + app_only
    assert_each_app_contact_once(split, rows)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Link)) == len(split.app)
        # Every mirrored row, listed or written, keeps the record it came from: a re-read of it need not be mapped.
        assert s.scalar(select(func.count()).select_from(RemoteContact).where(RemoteContact.raw_digest.is_(None))) == 0
    # The run analyzed what it loaded into tables that had no statistics (`store.statistics`): the next run is
    # planned from them. `analyze_count` counts ANALYZE statements, never autovacuum's.
    assert_analyzed("remote_contacts")
    assert_analyzed("links")

    second = trigger_sync("t1")
    assert second is not None
    run2 = wait_run(second, workers)
    assert run2.status == "succeeded" and run2.kind == "incremental"
    assert run2.created_remote == 0
    # Its walk re-read the contacts the full sync created, mirrored from the creates' answers: nothing to write,
    # and nothing for the statistics hint to count (`tasks.reconcile.advance`).
    assert run2.fetched >= app_only and run2.mirrored == 0
    assert len(platform_contacts(sandbox, token)) == len(rows)


def test_lost_responses_and_errors_create_nothing_twice(env: dict[str, str], workers: Workers, sandbox: Any) -> None:
    faults = {"error_rate": 0.1, "drop_after_commit_rate": 0.3}
    split, token = setup_tenant(sandbox, size=160, seed=23, faults=faults, options={"visibility_lag_seconds": 1})
    workers.start(2)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    runs = sync_until_settled(run_id, workers)
    assert runs[-1].status == "succeeded", runs[-1].error
    rows = platform_contacts(sandbox, token)
    assert_each_app_contact_once(split, rows)
    assert len(rows) == len(split.remote) + len(split.app) - split.both


def test_worker_killed_mid_run_loses_and_doubles_nothing(env: dict[str, str], workers: Workers, sandbox: Any) -> None:
    workers.env["CONTACTSYNC_STALE_RUN_SECONDS"] = "5"
    split, token = setup_tenant(
        sandbox, size=400, seed=37, faults={"latency_ms": 30}, options={"visibility_lag_seconds": 1}
    )
    (victim,) = workers.start(1, concurrency=2)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with db.session() as s:
            done = s.scalar(select(func.count()).select_from(WriteOp).where(WriteOp.status == "done"))
        if done and done >= 10:
            break
        time.sleep(0.1)
    kill_worker(victim)
    workers.start(1)
    # A create the dead worker was sending waits parked until a later run proves it absent or finds it.
    runs = sync_until_settled(run_id, workers, redrive=True)
    assert runs[-1].status == "succeeded", runs[-1].error
    rows = platform_contacts(sandbox, token)
    assert_each_app_contact_once(split, rows)
    assert len(rows) == len(split.remote) + len(split.app) - split.both


def test_plain_celery_worker_serves_every_queue(env: dict[str, str], workers: Workers, sandbox: Any) -> None:
    """`celery -A contactsync.worker worker` with no -Q, as users start it, carries out a whole sync."""
    split, token = setup_tenant(sandbox, size=40, seed=3)
    workers.start(1, plain=True)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    run = wait_run(run_id, workers)
    assert run.status == "succeeded"
    assert len(platform_contacts(sandbox, token)) == len(split.remote) + len(split.app) - split.both
