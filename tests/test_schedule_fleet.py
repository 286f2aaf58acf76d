"""Starting a fleet's due runs: one tick starts every due tenant (across several batches), never one twice, and
each fetch message goes to its tenant's shard queue, announced by a task-sent event as monitoring expects; runs
whose messages never left are re-driven. Real PostgreSQL and Redis; no worker consumes the queues."""

from __future__ import annotations

import ast
import base64
import json
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import select, update

from contactsync import db
from contactsync.embedded import refresh_process_settings
from contactsync.models import SyncRun, Tenant
from contactsync.models.base import utcnow
from contactsync.redis_keys import celery_keyprefix, shard_queues, tenant_queue
from contactsync.settings import get_settings
from contactsync.states import ACTIVE_RUN_STATES
from contactsync.store.due import start_due_batch
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.schedule import TenantPaused, redrive_stale_runs, start_due_runs, trigger_sync
from contactsync.worker.app import app

DUE = 60
BATCH = 25  # well below DUE: one tick needs several batches


def add_due_tenants(count: int) -> list[str]:
    due = [f"fleet{i:03d}" for i in range(count)]
    with db.session() as s:
        for i, tid in enumerate(due):
            upsert_tenant(
                s, tid, name=tid, dialect="merge", base_url="http://127.0.0.1:9/api", api_key="k",
                account_token=f"acct-{tid}",
                next_sync_at=utcnow() - timedelta(seconds=i) if i % 2 else None,
            )  # fmt: skip
    return due


@pytest.fixture
def fleet(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """DUE due tenants, and three that are not to be started: one not due yet, one paused, one already running."""
    monkeypatch.setenv("CONTACTSYNC_SCHEDULE_BATCH_SIZE", str(BATCH))
    monkeypatch.setenv("CONTACTSYNC_QUEUE_SHARDS", "4")
    refresh_process_settings()
    due = add_due_tenants(DUE)
    with db.session() as s:
        for tid in ["later", "paused", "running"]:
            upsert_tenant(
                s, tid, name=tid, dialect="merge", base_url="http://127.0.0.1:9/api", api_key="k",
                account_token=f"acct-{tid}",
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


class SentEvents(threading.Thread):
    """The task-sent events on the broker, read as monitoring (Flower) reads them: Celery's event receiver."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sent: list[dict[str, Any]] = []
        self.seen_any = threading.Event()
        self._receiver: Any = None

    def run(self) -> None:
        def any_event(event: dict[str, Any]) -> None:
            if event.get("type") == "task-sent":
                self.sent.append(event)
            self.seen_any.set()

        # One capture for the thread's whole life, ended by `should_stop`: a capture that times out closes its
        # consumer, and the fanout subscription with it, so a loop of short captures would miss whatever is
        # published between one capture's end and the next one's subscription (pub/sub keeps nothing).
        with app.connection_for_read() as conn:
            self._receiver = app.events.Receiver(conn, handlers={"*": any_event})
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def listening(self) -> None:
        """Return once the receiver gets events (its subscription is lazy): probes until one arrives."""
        for _ in range(100):
            with app.events.default_dispatcher() as dispatcher:
                dispatcher.send("probe")
            if self.seen_any.wait(0.2):
                return
        raise AssertionError("the event receiver never started listening")

    def stop(self) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True  # seen within a second: the consumer's drain wakes that often
        self.join(5)


def fetches_announced(events: SentEvents) -> dict[str, dict[str, Any]]:
    """The task-sent events of fetch tasks received so far, by tenant."""
    return {ast.literal_eval(e["args"])[0]: e for e in list(events.sent) if e.get("name") == "contactsync.fetch"}


def test_one_tick_sends_every_fetch_of_a_large_fleet_with_its_sent_event(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 due tenants, batches of 128: every run starts in the one tick, its fetch message on its shard queue,
    and each message announced by a task-sent event naming that queue (the messages of a batch leave in one
    Redis pipeline, the events with them)."""
    monkeypatch.setenv("CONTACTSYNC_SCHEDULE_BATCH_SIZE", "128")
    monkeypatch.setenv("CONTACTSYNC_QUEUE_SHARDS", "8")
    refresh_process_settings()
    due = add_due_tenants(300)
    events = SentEvents()
    events.start()
    try:
        events.listening()
        assert start_due_runs() == 300
        queues = queued_fetches()
        for queue, tenants in queues.items():
            assert all(tenant_queue(tid, 8) == queue for tid in tenants), queue
        assert Counter(tid for tenants in queues.values() for tid in tenants) == Counter(due)
        assert sum(1 for tenants in queues.values() if tenants) == 8
        with db.session() as s:
            run_ids = {r.tenant_id: r.id for r in s.scalars(select(SyncRun))}
        for _ in range(300):  # the events are on their way; no figure depends on how fast
            if len(fetches_announced(events)) >= 300:
                break
            time.sleep(0.1)
    finally:
        events.stop()
    announced = fetches_announced(events)
    assert set(announced) == set(due)
    for tid, event in announced.items():
        assert event["queue"] == tenant_queue(tid, 8)
        assert ast.literal_eval(event["args"]) == (tid, run_ids[tid])


def test_runs_whose_messages_never_left_are_redriven_to_their_shards(env: dict[str, str]) -> None:
    """A crash between a batch's commit and its sends leaves runs without messages: the schedule tick's re-drive
    sends each one's fetch (to its shard queue) once its heartbeat is older than the stale limit."""
    due = add_due_tenants(40)
    with db.session() as s:
        found, started = start_due_batch(s, utcnow(), limit=100, trigger="schedule")
    assert found == 40 and len(started) == 40
    assert queued_fetches() == {q: [] for q in shard_queues(get_settings().queue_shards)}  # nothing sent: the crash
    assert redrive_stale_runs(60) == 0  # not stale yet
    with db.session() as s:
        s.execute(update(SyncRun).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
    assert redrive_stale_runs(60) == 40
    queues = queued_fetches()
    shards = get_settings().queue_shards
    for queue, tenants in queues.items():
        assert all(tenant_queue(tid, shards) == queue for tid in tenants), queue
    assert Counter(tid for tenants in queues.values() for tid in tenants) == Counter(due)


def _waits_on_a_lock(fragment: str) -> bool:
    """Whether a backend of this database runs a statement containing `fragment` and waits for a row lock."""
    with db.engine().connect() as conn:
        return bool(
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE %(q)s AND pid <> pg_backend_pid()",
                {"q": f"%{fragment}%"},
            ).scalar()
        )


def _until(done: threading.Thread, condition: Any, timeout: float = 30.0) -> None:
    """Until `condition()` holds or the thread has ended (which the caller's assertions then judge)."""
    deadline = time.monotonic() + timeout
    while done.is_alive() and not condition():
        assert time.monotonic() < deadline, "neither the lock wait nor the thread's end came"
        time.sleep(0.01)


def test_a_pause_under_way_holds_the_tick_back_and_wins(env: dict[str, str]) -> None:
    """A tick that reaches a tenant while a pause of it is being committed waits for the pause and starts no
    run; reading the row as it was before the pause, it would start one the pause promised would not start."""
    (tenant,) = add_due_tenants(1)
    started: list[int] = []
    with db.engine().connect() as pausing:
        pausing.execute(update(Tenant).where(Tenant.id == tenant).values(paused=True))  # not committed yet
        tick = threading.Thread(target=lambda: started.append(start_due_runs()))
        tick.start()
        _until(tick, lambda: _waits_on_a_lock("FOR SHARE OF tenants"))
        pausing.commit()
    tick.join(30)
    assert started == [0]
    assert active_runs() == Counter()


def test_a_pause_after_the_tick_read_the_tenant_returns_once_the_run_is_visible(env: dict[str, str]) -> None:
    """A pause committed while a tick that found the tenant due has not committed its run yet waits for that
    commit: once the pause returns, whoever looks sees the run it let start (a run under way finishes), and
    nothing starts later."""
    (tenant,) = add_due_tenants(1)
    seen_after_pause: list[int] = []

    def pause() -> None:
        with db.session() as s:
            s.execute(update(Tenant).where(Tenant.id == tenant).values(paused=True))
        seen_after_pause.append(active_runs()[tenant])

    with db.session() as s:
        found, started = start_due_batch(s, utcnow(), limit=10, trigger="schedule")
        assert found == 1 and len(started) == 1
        pauser = threading.Thread(target=pause)
        pauser.start()
        _until(pauser, lambda: _waits_on_a_lock("UPDATE tenants"))
    pauser.join(30)
    assert seen_after_pause == [1]
    assert start_due_runs() == 0  # paused: the next tick starts nothing


def test_a_sync_asked_for_while_a_pause_commits_is_refused(env: dict[str, str]) -> None:
    """The API's "sync now" reads the pause where it starts the run: a pause being committed is waited for and
    honoured. An operator's own sync (the CLI) does not ask, and runs a paused tenant."""
    (tenant,) = add_due_tenants(1)
    outcome: list[object] = []

    def sync_now() -> None:
        try:
            outcome.append(trigger_sync(tenant, trigger="api", unless_paused=True))
        except TenantPaused as exc:
            outcome.append(exc)

    with db.engine().connect() as pausing:
        pausing.execute(update(Tenant).where(Tenant.id == tenant).values(paused=True))  # not committed yet
        asking = threading.Thread(target=sync_now)
        asking.start()
        _until(asking, lambda: _waits_on_a_lock("FOR SHARE"))
        pausing.commit()
    asking.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], TenantPaused), outcome
    assert active_runs() == Counter()
    assert trigger_sync(tenant) is not None  # the operator's sync
