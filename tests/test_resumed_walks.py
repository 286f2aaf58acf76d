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
from sqlalchemy import func, select

from contactsync import db
from contactsync.models import RemoteContact, SyncRun, WalkNote
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


def test_a_maesn_split_walk_killed_midway_keeps_its_supplier_ids_in_notes_and_every_role_arrives(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    """The supplier scan's ids live in `walk_notes`, written with each page, not in the page token (which grew
    with the tenant and was written again with every page): the token a killed walk left holds none, the walk
    resumes with the notes its recorded pages kept, and every contact comes out with the roles the platform
    gives it. The run's notes are gone once its walk is complete."""
    split, token = setup_tenant(
        sandbox,
        size=240,
        seed=57,
        faults={"latency_ms": 40},
        dialect="maesn",
        options={"resources": "split", "limit": 10},
    )
    (victim,) = workers.start(1, concurrency=2)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    _kill_mid_walk(victim, run_id)
    with db.session() as s:
        left = s.get(SyncRun, run_id)
        assert left is not None and left.page_token is not None
        assert left.page_token["notes"] is True and left.page_token["suppliers"] == [] == left.page_token["both"]
        kept = s.scalar(select(func.count()).select_from(WalkNote).where(WalkNote.run_id == run_id))
        assert kept, "the recorded pages' notes are in the database"
    workers.start(1)
    runs = sync_until_settled(run_id, workers, redrive=True)
    assert runs[-1].status == "succeeded", runs[-1].error
    rows = platform_contacts(sandbox, token)
    assert_each_app_contact_once(split, rows)
    # The roles the walk read: of the contacts the platform held before the run (the creates' rows in the mirror
    # hold their write answers, which the walk did not read).
    seeded = {c.name for c in split.remote}
    roles = {r["remote_id"]: (r["is_customer"], r["is_supplier"]) for r in rows if r["name"] in seeded}
    assert (True, True) in roles.values() and (False, True) in roles.values()  # both lists, and suppliers only
    with db.session() as s:
        mirrored = {
            r.remote_id: (r.data["is_customer"], r.data["is_supplier"])
            for r in s.scalars(select(RemoteContact).where(RemoteContact.remote_id.in_(roles)))
        }
        assert not s.scalar(select(func.count()).select_from(WalkNote))  # dropped when the walk completed
    assert mirrored == roles
