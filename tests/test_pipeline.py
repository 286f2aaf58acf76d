"""End to end: real Celery worker processes, PostgreSQL, Redis and the sandbox provider over HTTP.

The assertions are about the platform's final state, read back from the sandbox: every app contact exists there
exactly once, nothing the platform already had was created again, and a second sync creates nothing.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import func, select

from contactsync import db
from contactsync.contact import CanonicalContact
from contactsync.demo import split_companies
from contactsync.models import AppContact, Link, RemoteContact, SyncRun, WriteOp
from contactsync.sandbox import run_in_thread
from contactsync.sandbox.seed import companies
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.schedule import redrive_stale_runs, trigger_sync
from tests.conftest import Workers

pytestmark = pytest.mark.pipeline
OLD = datetime(2024, 1, 15, tzinfo=UTC)


@pytest.fixture
def sandbox() -> Iterator[Any]:
    with run_in_thread() as handle:
        yield handle


def setup_tenant(
    sandbox: Any,
    size: int,
    seed: int,
    faults: dict[str, Any] | None = None,
    dialect: str = "merge",
    options: dict[str, Any] | None = None,
    extra_remote: list[CanonicalContact] | None = None,
) -> tuple[Any, str]:
    split = split_companies(companies(seed, size))
    token = f"acct-{seed}"
    body = {
        "token": token,
        "seed": seed,
        "count": 0,
        "contacts": [c.model_dump(mode="json") for c in [*split.remote, *(extra_remote or [])]],
        "rate_limit_per_minute": 100_000,
        "faults": faults or {},
    }
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=60).raise_for_status()
    with db.session() as s:
        upsert_tenant(
            s,
            "t1",
            name="Tenant",
            dialect=dialect,
            base_url=f"{sandbox.url}/api/accounting/v1" if dialect == "merge" else sandbox.url,
            api_key="k",
            account_token=token,
            # Merge's page size: Maesn's pages keep their default size (it has no `page_size` option).
            options={
                "rate_limit_per_minute": 100_000,
                **({"page_size": 50} if dialect == "merge" else {}),
                **(options or {}),
            },
        )
        upsert_app_contacts(s, "t1", split.app, updated_at=OLD)
    return split, token


def wait_run(run_id: int, workers: Workers, timeout: float = 120, redrive: bool = False) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            if run.finished_at is not None:
                return run
        if redrive:
            redrive_stale_runs(2)
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish; worker logs:\n{workers.logs()}")


def sync_until_settled(first_run: int, workers: Workers, *, max_runs: int = 8, redrive: bool = False) -> list[SyncRun]:
    """Wait for a run, then start more while creates wait parked (each later run re-checks them)."""
    runs = [wait_run(first_run, workers, timeout=180, redrive=redrive)]
    while runs[-1].parked and runs[-1].status == "partial" and len(runs) < max_runs:
        time.sleep(0.5)
        run_id = trigger_sync("t1")
        assert run_id is not None
        runs.append(wait_run(run_id, workers, timeout=180, redrive=redrive))
    return runs


def a_matched_pair() -> tuple[str, str]:
    """(remote id, app id) of a pair the matcher linked (not one the writer created)."""
    with db.session() as s:
        row = s.execute(
            select(RemoteContact.remote_id, AppContact.app_id)
            .join(Link, Link.remote_contact_id == RemoteContact.id)
            .join(AppContact, AppContact.id == Link.app_contact_id)
            .where(Link.method != "created")
            .order_by(Link.id)
            .limit(1)
        ).one()
    return str(row[0]), str(row[1])


def platform_contacts(sandbox: Any, token: str) -> list[dict[str, Any]]:
    rows = httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/contacts", timeout=30).json()
    return [r for r in rows if not r.get("deleted")]


def assert_each_app_contact_once(split: Any, rows: list[dict[str, Any]]) -> None:
    names = Counter(r["name"].casefold() for r in rows)
    remote_names = {c.name.casefold() for c in split.remote}
    for _app_id, contact in split.app:
        key = contact.name.casefold()
        expected = 1 if key not in remote_names else Counter(c.name.casefold() for c in split.remote)[key]
        assert names[key] == expected, f"{contact.name!r} is on the platform {names[key]} times"


@pytest.mark.parametrize("dialect", ["merge", "maesn"])
def test_full_then_incremental_sync(env: dict[str, str], workers: Workers, sandbox: Any, dialect: str) -> None:
    split, token = setup_tenant(sandbox, size=240, seed=11, dialect=dialect)
    workers.start(2)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    run = wait_run(run_id, workers)
    assert run.status == "succeeded", run.error
    app_only = len(split.app) - split.both
    assert run.fetched == len(split.remote)
    assert run.created_remote == app_only
    rows = platform_contacts(sandbox, token)
    assert len(rows) == len(split.remote) + app_only
    assert_each_app_contact_once(split, rows)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Link)) == len(split.app)

    second = trigger_sync("t1")
    assert second is not None
    run2 = wait_run(second, workers)
    assert run2.status == "succeeded" and run2.kind == "incremental"
    assert run2.created_remote == 0
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
    for child in psutil.Process(victim.pid).children(recursive=True):
        child.send_signal(signal.SIGKILL)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
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
