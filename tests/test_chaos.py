"""Infrastructure restarts in the middle of a sync: afterwards every contact is on the platform exactly once.

Each test runs its own server (an embedded Redis or PostgreSQL started for the test), so it can be stopped and
started again without disturbing other tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, make_url, select

from contactsync import db
from contactsync.embedded import EmbeddedRedis, refresh_process_settings
from contactsync.models import WriteOp
from contactsync.tasks.schedule import trigger_sync
from tests.conftest import Workers
from tests.pipeline import (
    assert_each_app_contact_once,
    platform_contacts,
    setup_tenant,
    sync_until_settled,
)

pytestmark = pytest.mark.pipeline


@pytest.fixture
def own_redis(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    monkeypatch.setenv("REDIS_URL", server.url)
    env["REDIS_URL"] = server.url
    refresh_process_settings()
    yield server
    server.stop()


def wait_for_writes(count: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            if (s.scalar(select(func.count()).select_from(WriteOp).where(WriteOp.status == "done")) or 0) >= count:
                return
        time.sleep(0.1)
    raise AssertionError("the writes did not start")


class RestartPolicy(threading.Thread):
    """Starts a worker again when one exits by itself, as Kubernetes or systemd would for a deployment.

    kombu can end a worker that loses Redis while it holds unacknowledged messages (BENCHMARKS.md, "a Celery
    worker can exit on a Redis restart"); a lone worker gone leaves the run waiting for ever. What these tests
    check is what the data holds after the restart, so they run the workers as a deployment does."""

    def __init__(self, workers: Workers) -> None:
        super().__init__(daemon=True)
        self.workers = workers
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.5):
            for proc in list(self.workers.procs):
                if proc.poll() is not None and not self._done.is_set():
                    self.workers.procs.remove(proc)
                    self.workers.start(1, concurrency=2)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=90)


def test_redis_restart_mid_run(env: dict[str, str], own_redis: EmbeddedRedis, tmp_path: Path, sandbox: Any) -> None:
    split, token = setup_tenant(
        sandbox, size=400, seed=41, faults={"latency_ms": 20}, options={"visibility_lag_seconds": 1}
    )
    workers = Workers({**env, "CONTACTSYNC_STALE_RUN_SECONDS": "5"}, tmp_path)
    try:
        workers.start(1, concurrency=2)
        run_id = trigger_sync("t1", full=True)
        assert run_id is not None
        wait_for_writes(10)
        assert own_redis.process is not None
        own_redis.process.kill()  # no shutdown save: whatever the last second held may be gone
        own_redis.process.wait()
        time.sleep(2)
        own_redis.start()  # same port, same append-only file
        policy = RestartPolicy(workers)
        policy.start()
        try:
            run = sync_until_settled(run_id, workers, redrive=True)[-1]
        finally:
            policy.stop()
    finally:
        workers.stop()
    assert run.status == "succeeded", run.error
    rows = platform_contacts(sandbox, token)
    assert_each_app_contact_once(split, rows)
    assert len(rows) == len(split.remote) + len(split.app) - split.both


def test_postgres_connections_killed_mid_run(
    env: dict[str, str], workers: Workers, tmp_path: Path, sandbox: Any
) -> None:
    """Every connection of the test database is terminated by the server, as in a failover or restart."""
    split, token = setup_tenant(
        sandbox, size=400, seed=43, faults={"latency_ms": 20}, options={"visibility_lag_seconds": 1}
    )
    workers.env["CONTACTSYNC_STALE_RUN_SECONDS"] = "5"
    workers.start(1, concurrency=2)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    wait_for_writes(10)
    url = make_url(env["DATABASE_URL"])
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    name = url.database
    terminated = 0
    with psycopg.connect(admin, autocommit=True) as conn:
        for _ in range(3):
            terminated += len(
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                    " AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchall()
            )
            time.sleep(0.5)
    assert terminated > 0  # the workers' connections to this test's database were there to cut
    db.reset_engine()
    run = sync_until_settled(run_id, workers, redrive=True)[-1]
    assert run.status == "succeeded", run.error
    rows = platform_contacts(sandbox, token)
    assert_each_app_contact_once(split, rows)
    assert len(rows) == len(split.remote) + len(split.app) - split.both
