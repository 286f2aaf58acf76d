"""A walk resumed after its worker died, on a server whose cursors expire: the run still succeeds.

A fetch redelivered after a crash (or retried after a wait) resumes from the page token it committed. Merge's
own cursors are positions that keep, but cursors of other servers point into a cached result and expire; the
resumed walk's first request is then refused. Before, that refusal failed the run; the walk now starts again
from its first page (`providers.merge`), and the pages read twice change nothing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.models import RemoteContact, SyncRun
from contactsync.tasks.schedule import trigger_sync
from tests.conftest import Workers
from tests.pipeline import (
    admin,
    assert_each_app_contact_once,
    kill_worker,
    platform_contacts,
    setup_tenant,
    sync_until_settled,
)

pytestmark = pytest.mark.pipeline


def _kill_mid_walk(victim: Any, run_id: int, timeout: float = 60) -> int:
    """SIGKILL the worker (and its pool) once the run has recorded a few pages of its walk; the pages recorded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            if run.status != "fetching":
                raise AssertionError(f"the walk ended before the kill ({run.status}, {run.pages_fetched} pages)")
            if run.pages_fetched >= 3:
                break
        time.sleep(0.02)
    kill_worker(victim)
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None and run.status == "fetching", "the kill must land inside the walk"
        return run.pages_fetched


def test_a_walk_resumed_with_an_expired_cursor_walks_again_and_succeeds(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    workers.env["CONTACTSYNC_STALE_RUN_SECONDS"] = "5"
    split, token = setup_tenant(
        sandbox,
        size=300,
        seed=53,
        faults={"latency_ms": 60},
        variant={"merge_cursor_ttl": 2},
        options={"page_size": 10, "visibility_lag_seconds": 1},
    )
    (victim,) = workers.start(1, concurrency=2)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    recorded = _kill_mid_walk(victim, run_id)
    time.sleep(2.5)  # the token the run committed now names an expired cursor
    workers.start(1)
    runs = sync_until_settled(run_id, workers, redrive=True)
    assert runs[0].status in ("succeeded", "partial"), runs[0].error
    assert runs[-1].status == "succeeded", runs[-1].error
    logs = "".join(p.read_text() for p in workers.log_dir.glob("worker*.log"))
    assert "walking again from the first page" in logs  # the resumed walk met the expired cursor
    assert admin(sandbox, token, "GET", "/stats")["injected"]["expired cursor"] >= 1
    rows = platform_contacts(sandbox, token)
    assert_each_app_contact_once(split, rows)
    assert len(rows) == len(split.remote) + len(split.app) - split.both
    with db.session() as s:
        mirrored = s.scalars(select(RemoteContact.remote_id)).all()
        first = s.get(SyncRun, run_id)
        assert first is not None and first.pages_fetched > recorded
        assert first.walk_restarts >= 1  # the run says its walk went back, not only the worker's log
    assert sorted(mirrored) == sorted(r["remote_id"] for r in rows)  # each platform contact mirrored once
