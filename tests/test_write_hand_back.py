"""A write batch whose bucket would keep it waiting hands its entries back to the queue instead of holding its
worker process; each entry is still written exactly once.

The bucket is emptied mid-batch (a 429's cool-down, which every worker honours) once the batch's first group is
recorded and the platform holds all of the second group's requests: the batch must hand back what it has not marked
`in_flight`, book its place on the bucket, and a later delivery sends the rest. The platform holds those requests
until the bucket is shut, so the batch still has entries to hand back however slowly this test gets to look (on a
loaded machine it once looked only after the batch had sent everything), and none of them is still before its
bucket slot, where it would wait out the cool-down instead (which once let the batch find the bucket open again).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select

from contactsync import db
from contactsync.models import SyncRun, WriteOp
from contactsync.providers.ratelimit import bucket_state, bucket_throttle, note_rate_limited
from contactsync.redis_keys import booked_key
from contactsync.settings import get_settings
from contactsync.store.tenants import connection_of
from contactsync.tasks.batch import HAND_BACK_SECONDS
from contactsync.tasks.schedule import trigger_sync
from tests.conftest import Workers
from tests.pipeline import assert_each_app_contact_once, platform_contacts, setup_tenant, wait_run

GROUP = 4
COOL_DOWN = 8.0  # seconds the bucket stays shut once the first group is recorded


def _ledger() -> list[tuple[int, str, int]]:
    with db.session() as s:
        rows = s.execute(select(WriteOp.id, WriteOp.status, WriteOp.attempts).order_by(WriteOp.id)).all()
    return [(int(i), str(st), int(a)) for i, st, a in rows]


def _held_writes(sandbox: Any, token: str) -> int:
    stats = httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/stats", timeout=30).json()
    return int(stats["injected"].get("stalled write", 0))


def _shut_the_bucket_after_the_first_group(
    connection_id: int, workers: Workers, sandbox: Any, token: str, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Shut only once the platform holds the whole second group: a request of it still before its bucket slot
        # would wait out the cool-down there, and the batch would find the bucket open again when it next asked.
        if _held_writes(sandbox, token) >= GROUP:
            assert Counter(status for _i, status, _a in _ledger())["done"] == GROUP
            note_rate_limited(connection_id, retry_after=COOL_DOWN)
            # The second group's requests were held by the platform until now: let them through.
            httpx.patch(
                f"{sandbox.url}/_sandbox/accounts/{token}", json={"faults": {"stall_writes_after": -1}}, timeout=30
            ).raise_for_status()
            return
        time.sleep(0.02)
    raise AssertionError(f"no group was recorded; worker logs:\n{workers.logs()}")


@pytest.mark.pipeline
def test_a_batch_waiting_for_its_bucket_hands_its_entries_back_and_each_is_written_once(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    workers.env["CONTACTSYNC_WRITE_CONCURRENCY"] = str(GROUP)
    split, token = setup_tenant(sandbox, size=80, seed=71, faults={"latency_ms": 150, "stall_writes_after": GROUP})
    with db.session() as s:
        conn = connection_of(s, "t1")
        assert conn is not None
        connection_id = conn.id
    workers.start(1, concurrency=1)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    _shut_the_bucket_after_the_first_group(connection_id, workers, sandbox, token)
    shut_at = time.time()

    run = wait_run(run_id, workers, timeout=180)
    assert run.status == "succeeded", (run.status, run.error)
    settings = get_settings()
    booked = redis.Redis.from_url(settings.require_redis_url()).get(booked_key(settings.redis_prefix, connection_id))
    assert booked is not None, f"no batch handed its entries back; worker logs:\n{workers.logs()}"
    assert float(booked) >= shut_at  # booked after the bucket's cool-down, not before
    ledger = _ledger()
    assert len(ledger) > 2 * GROUP
    assert all((status, attempts) == ("done", 1) for _i, status, attempts in ledger), ledger  # each sent once
    rows = platform_contacts(sandbox, token)
    assert_each_app_contact_once(split, rows)
    assert len(rows) == len(split.remote) + len(split.app) - split.both
    with db.session() as s:
        done = s.get(SyncRun, run_id)
        assert done is not None and done.created_remote + done.updated_remote == len(ledger)


@pytest.mark.pipeline
def test_a_group_is_no_larger_than_its_buckets_room_so_the_worker_serves_other_tenants_meanwhile(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    """A group that outgrew its bucket's room used to wait for slots mid-group holding its worker process, up to a
    whole window, while the tenants sharing that worker waited behind it. A group is now no larger than the room
    the bucket has left, and what does not fit is handed back: another tenant served by the same (single) worker
    process syncs while the first tenant's bucket is still empty.

    At 600 requests a minute a batch holds 10 entries, sent in groups of 8. The bucket is filled up to 4 slots
    before the run starts (as earlier requests of the minute would have): the walk takes one or two of them, and
    the first group finds 2 or 3 left."""
    per_minute, left = 600, 4
    split, _token = setup_tenant(sandbox, size=60, seed=73, options={"rate_limit_per_minute": per_minute})
    assert len(split.app) - split.both > GROUP  # more creates than the room left
    other, other_token = setup_tenant(sandbox, size=20, seed=74, tenant_id="t2")
    with db.session() as s:
        conn = connection_of(s, "t1")
        assert conn is not None
        connection_id = conn.id
    take_slot = bucket_throttle(connection_id, per_minute, max_wait_seconds=1)
    for _ in range(per_minute - left):
        take_slot()
    workers.start(1, concurrency=1)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    deadline = time.monotonic() + 120
    while bucket_state(connection_id, per_minute).wait <= HAND_BACK_SECONDS:
        assert time.monotonic() < deadline, f"t1 never emptied its bucket; worker logs:\n{workers.logs()}"
        time.sleep(0.05)
    reopens_at = time.time() + bucket_state(connection_id, per_minute).wait

    other_run_id = trigger_sync("t2", full=True)
    assert other_run_id is not None
    other_run = wait_run(other_run_id, workers, timeout=180)
    assert other_run.status == "succeeded", (other_run.status, other_run.error)
    assert time.time() < reopens_at, f"t2 waited for t1's bucket; worker logs:\n{workers.logs()}"
    assert len(platform_contacts(sandbox, other_token)) == len(other.remote) + len(other.app) - other.both
    with db.session() as s:
        sent = s.execute(
            select(WriteOp.status, WriteOp.attempts).where(WriteOp.tenant_id == "t1", WriteOp.attempts > 0)
        ).all()
    assert 0 < len(sent) < left  # what t1 sent fitted in its bucket's room: none of it waited for a slot
    assert all(attempts == 1 for _status, attempts in sent), sent
