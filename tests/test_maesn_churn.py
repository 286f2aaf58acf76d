"""Acceptance: full walks of a Maesn tenant whose books change all the time, with real workers.

The sandbox lists Maesn contacts in change-time order (an edit moves a row to the end, the rows behind it move up
one place) and a background mutator edits, adds and deletes a contact every few hundred milliseconds while the
runs walk ten rows a page. Whatever moved under the walks: no platform contact alive through a run is missing
from the mirror, no app contact is created on the platform twice, no live contact is marked deleted, and every
run ends.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.demo import split_companies
from contactsync.models import RemoteContact
from contactsync.sandbox import run_in_thread
from contactsync.sandbox.seed import companies
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.schedule import trigger_sync
from tests.conftest import Workers
from tests.pipeline import OLD, wait_run

pytestmark = pytest.mark.pipeline
TOKEN = "acct-churn"


@pytest.fixture
def sandbox() -> Iterator[Any]:
    with run_in_thread() as handle:
        yield handle
        httpx.patch(f"{handle.url}/_sandbox/accounts/{TOKEN}", json={"churn": None}, timeout=10)


def _live(sandbox: Any) -> dict[str, tuple[str, str | None]]:
    """Live platform contacts: remote id -> (name, tax number), the pair that tells a duplicate from a namesake."""
    rows = httpx.get(f"{sandbox.url}/_sandbox/accounts/{TOKEN}/contacts", timeout=30).json()
    return {r["remote_id"]: (r["name"].casefold(), r["tax_number"]) for r in rows if not r["deleted"]}


def _churn_changes(sandbox: Any) -> int:
    return int(httpx.get(f"{sandbox.url}/_sandbox/accounts/{TOKEN}", timeout=10).json()["churn_changes"])


def _run_while_churning(sandbox: Any, workers: Workers) -> tuple[Any, set[str], set[str], int]:
    """One full run; returns it, the platform contacts alive from its start to its end, those alive at its
    start, and how many changes the churn made while it ran."""
    changes = _churn_changes(sandbox)
    before = set(_live(sandbox))
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    run = wait_run(run_id, workers, timeout=240)
    return run, before & set(_live(sandbox)), before, _churn_changes(sandbox) - changes


def _wait_for_a_deletion(sandbox: Any, mirrored: set[str], timeout: float = 60) -> None:
    """Let the churn delete at least one contact the mirror holds, so the later walk has a deletion to learn
    however fast the first walk was."""
    deadline = time.monotonic() + timeout
    while not mirrored - set(_live(sandbox)):
        assert time.monotonic() < deadline, "the churn deleted no mirrored contact"
        time.sleep(0.2)


def test_full_walks_of_a_platform_that_changes_all_the_time(env: dict[str, str], workers: Workers, sandbox: Any):
    split = split_companies(companies(77, 120))
    body = {
        "token": TOKEN,
        "contacts": [c.model_dump(mode="json") for c in split.remote],
        "rate_limit_per_minute": 100_000,
        "churn": {"every_ms": 150, "edit": 4, "add": 1, "delete": 1, "seed": 77},
    }
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=60).raise_for_status()
    with db.session() as s:
        upsert_tenant(
            s,
            "t1",
            name="Busy",
            dialect="maesn",
            base_url=sandbox.url,
            api_key="k",
            account_token=TOKEN,
            # More passes than the default: on a loaded test machine a walk is slow, so more changes land in it;
            # what this test proves (nothing skipped, nothing falsely deleted, runs end) holds for any count.
            options={"rate_limit_per_minute": 100_000, "limit": 10, "max_passes": 8},
        )
        upsert_app_contacts(s, "t1", split.app, updated_at=OLD)
    workers.start(1)
    expected = Counter((c.name.casefold(), c.tax_number) for c in split.remote)
    mirrored: dict[str, bool] = {}
    moved_under_walks = 0
    for walk in range(2):  # the first full walk, and a later one
        if walk:
            _wait_for_a_deletion(sandbox, set(mirrored))
        known_before = set(mirrored)
        run, alive_throughout, alive_at_start, moved = _run_while_churning(sandbox, workers)
        moved_under_walks += moved
        assert run.status == "succeeded", run.error
        live = _live(sandbox)
        with db.session() as s:
            mirrored = {r.remote_id: r.deleted for r in s.scalars(select(RemoteContact))}
        missing = alive_throughout - set(mirrored)
        assert not missing, f"{len(missing)} platform contacts skipped by the walk"
        falsely_deleted = {rid for rid, deleted in mirrored.items() if deleted and rid in live}
        assert not falsely_deleted, f"{len(falsely_deleted)} live contacts marked deleted"
        # The walks saw the books change, so absence alone proves nothing; the platform's own "not found" for
        # each absentee does: contacts deleted before the later walk began are marked deleted by it.
        gone_before = known_before - alive_at_start
        assert all(mirrored[rid] for rid in gone_before), "a contact deleted on the platform is not marked deleted"
        copies = Counter(live.values())
        for _app_id, contact in split.app:
            key = (contact.name.casefold(), contact.tax_number)
            assert copies[key] <= max(1, expected[key]), f"{contact.name!r} is on the platform {copies[key]} times"
    # The books really did move under the walks: counted while runs were under way, not over the whole test, so
    # it holds however fast the runs are (a change every 150 ms; a run takes several pages and tasks).
    assert moved_under_walks >= 2
    assert any(mirrored.values())  # and some deletions among the changes were learnt
