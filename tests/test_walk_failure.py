"""A walk that cannot finish ends its run `failed` with the reason, and the tenant's next sync can start.

Before, a list that kept changing left a page token that could never succeed, the fetch retried it forever and the
active run held the tenant's lease, so no later sync ever ran. The fetch task runs here in-process (its messages
to reconcile go to the real broker and stay there); the sandbox serves a list in creation order that is not
ordered by change time, so only page numbers can read it, while a mutator deletes and adds rows every 20 ms.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contactsync import db
from contactsync.models import SyncCursor, SyncRun
from contactsync.sandbox import run_in_thread
from contactsync.sandbox.seed import companies
from contactsync.store.mirror import Known
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.fetch import fetch
from contactsync.tasks.schedule import trigger_sync

TOKEN = "acct-moving"


@pytest.fixture
def sandbox() -> Iterator[Any]:
    with run_in_thread() as handle:
        yield handle
        httpx.patch(f"{handle.url}/_sandbox/accounts/{TOKEN}", json={"churn": None}, timeout=10)


def test_a_walk_that_cannot_finish_fails_its_run_with_the_reason_and_frees_the_tenant(env, sandbox):
    body = {
        "token": TOKEN,
        "contacts": [c.model_dump(mode="json") for c in companies(81, 60)],
        "variant": {"maesn_order": "created"},
        "rate_limit_per_minute": 100_000,
    }
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=30).raise_for_status()
    first = httpx.get(f"{sandbox.url}/_sandbox/accounts/{TOKEN}/contacts", timeout=10).json()[0]["remote_id"]
    edit = {"op": "edit", "id": first, "changes": {"currency": "CHF"}}
    httpx.post(f"{sandbox.url}/_sandbox/accounts/{TOKEN}/mutate", json=edit, timeout=10).raise_for_status()
    churn = {"churn": {"every_ms": 20, "edit": 0, "add": 1, "delete": 1, "seed": 3}}
    httpx.patch(f"{sandbox.url}/_sandbox/accounts/{TOKEN}", json=churn, timeout=10).raise_for_status()
    with db.session() as s:
        upsert_tenant(
            s,
            "t1",
            name="Moving",
            dialect="maesn",
            base_url=sandbox.url,
            api_key="k",
            account_token=TOKEN,
            options={"rate_limit_per_minute": 100_000, "limit": 5, "max_passes": 2},
        )
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    fetch("t1", run_id)  # in-process: the task body, as a worker would run it
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None and run.status == "failed" and run.finished_at is not None
        assert run.error is not None and "kept changing" in run.error
        cursor = s.get(SyncCursor, run.connection_id)
        assert cursor is None or cursor.watermark is None  # the failed walk moved no watermark
    assert trigger_sync("t1", full=True) is not None  # the lease is free: the next sync starts


def test_a_record_left_unmapped_without_the_mirrors_word_stops_the_walk() -> None:
    """A provider may leave unmapped only records the mirror said it holds; any other is an error, never a
    record silently dropped from the walk. The rows the mirror named are handed to their page once."""
    from contactsync.tasks.fetch import _KnownRows

    known = _KnownRows(connection_id=1)
    known.found["r1"] = Known(id=7, needs_reconcile=False)
    with pytest.raises(LookupError):
        known.take(["r1", "r2"])
    assert known.take(["r1"]) == {"r1": Known(id=7, needs_reconcile=False)} and not known.found
