"""Starting a fleet's due runs: one tick starts every due tenant (across several batches), never one twice, and
each fetch message goes to its tenant's shard queue. Real PostgreSQL and Redis; no worker consumes the queues."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import select

from contactsync import db
from contactsync.embedded import refresh_process_settings
from contactsync.models import SyncRun, Tenant
from contactsync.models.base import utcnow
from contactsync.redis_keys import celery_keyprefix, shard_queues, tenant_queue
from contactsync.settings import get_settings
from contactsync.states import ACTIVE_RUN_STATES
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.schedule import start_due_runs, trigger_sync

DUE = 60
BATCH = 25  # well below DUE: one tick needs several batches


@pytest.fixture
def fleet(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """DUE due tenants, and three that are not to be started: one not due yet, one paused, one already running."""
    monkeypatch.setenv("CONTACTSYNC_SCHEDULE_BATCH_SIZE", str(BATCH))
    monkeypatch.setenv("CONTACTSYNC_QUEUE_SHARDS", "4")
    refresh_process_settings()
    due = [f"fleet{i:03d}" for i in range(DUE)]
    with db.session() as s:
        for i, tid in enumerate([*due, "later", "paused", "running"]):
            upsert_tenant(
                s, tid, name=tid, dialect="merge", base_url="http://127.0.0.1:9/api", api_key="k",
                account_token=f"acct-{tid}",
                next_sync_at=utcnow() - timedelta(seconds=i) if i % 2 else None,
            )  # fmt: skip
        later = s.get(Tenant, "later")
        paused = s.get(Tenant, "paused")
        assert later is not None and paused is not None
        later.next_sync_at = utcnow() + timedelta(hours=1)
        paused.paused = True
    assert trigger_sync("running") is not None
    return due


def queued_fetches() -> dict[str, list[str]]:
    """Tenant ids of the fetch messages waiting in each shard queue."""
    settings = get_settings()
    client = redis.Redis.from_url(settings.require_redis_url())
    out: dict[str, list[str]] = {}
    for queue in shard_queues(settings.queue_shards):
        tenants = []
        for raw in client.lrange(celery_keyprefix(settings.redis_prefix) + queue, 0, -1):
            message: dict[str, Any] = json.loads(raw)
            assert message["headers"]["task"] == "contactsync.fetch"
            body = message["body"]
            if message["properties"].get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args, _kwargs, _embed = json.loads(body)
            tenants.append(args[0])
        out[queue] = tenants
    client.close()
    return out


def active_runs() -> Counter[str]:
    with db.session() as s:
        return Counter(s.scalars(select(SyncRun.tenant_id).where(SyncRun.status.in_(ACTIVE_RUN_STATES))))


def test_one_tick_starts_every_due_tenant_once_on_its_shard(fleet: list[str]) -> None:
    assert start_due_runs() == DUE
    runs = active_runs()
    assert runs == Counter({tid: 1 for tid in [*fleet, "running"]})
    with db.session() as s:
        kinds = Counter(s.scalars(select(SyncRun.kind).where(SyncRun.tenant_id.in_(fleet))))
        assert kinds == {"full": DUE}  # no cursor yet: every first run walks everything
        assert all(r.started_at is not None for r in s.scalars(select(SyncRun)))

    assert start_due_runs() == 0  # the next tick: every due tenant holds its lease
    assert active_runs() == runs

    queues = queued_fetches()
    shards = get_settings().queue_shards
    for queue, tenants in queues.items():
        assert all(tenant_queue(tid, shards) == queue for tid in tenants), queue
    sent = Counter(tid for tenants in queues.values() for tid in tenants)
    assert sent == Counter({tid: 1 for tid in [*fleet, "running"]})
    assert sum(1 for tenants in queues.values() if tenants) > 1  # the fleet spreads over the shards


def test_two_beats_at_once_start_each_due_tenant_once(fleet: list[str]) -> None:
    counts: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def beat() -> None:
        try:
            barrier.wait()
            counts.append(start_due_runs())
        except BaseException as exc:  # surfaced below: a thread's exception would otherwise be lost
            errors.append(exc)

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(counts) == DUE
    assert active_runs() == Counter({tid: 1 for tid in [*fleet, "running"]})
    sent = Counter(tid for tenants in queued_fetches().values() for tid in tenants)
    assert sent == Counter({tid: 1 for tid in [*fleet, "running"]})
