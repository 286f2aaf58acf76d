"""A run's planning commits its creates, which are sent at once, before it plans its linked pairs.

The run must not end in between: a write batch that settles the last create before the pairs are planned leaves
the run writing, and a batch that settles it while the pairs' plan commits sees that plan's entries. Real
PostgreSQL, the sandbox over HTTP, tasks run in this process.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import redis
from sqlalchemy import select, update

from contactsync import db
from contactsync.models import AppContact, Link, SyncRun, WriteOp
from contactsync.models import WriteState as W
from contactsync.models.base import utcnow
from contactsync.redis_keys import celery_keyprefix, tenant_queue
from contactsync.settings import get_settings
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.reconcile import reconcile_remote
from contactsync.store.runs import lock_run
from contactsync.store.tenants import connection_of
from contactsync.tasks.batch import Batch
from contactsync.tasks.plan import plan_linked_pairs, plan_run_creates, plan_run_pairs, plan_writes
from contactsync.tasks.schedule import redrive_stale_runs
from contactsync.tasks.write import _finish_runs_if_done, write_batch
from tests.pipeline import connect_tenant, writing_run
from tests.test_lost_creates import MINE, NAMESAKE


def _tenant_with_a_pair_and_an_app_only_contact(sandbox: Any) -> tuple[int, int]:
    """The platform holds NAMESAKE, mirrored and linked to the app's copy of it (its pair not planned yet); the
    app also holds MINE, which only a create can bring to the platform. Returns (run id, link id)."""
    token = f"stages-{time.monotonic_ns()}"
    body = {"token": token, "contacts": [NAMESAKE.model_dump(mode="json")], "rate_limit_per_minute": 100_000}
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=30).raise_for_status()
    listed = httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/contacts", timeout=30).json()
    with db.session() as s:
        connect_tenant(s, sandbox, token)
        upsert_app_contacts(s, "t1", [("a1", MINE), ("a2", NAMESAKE)])
        conn = connection_of(s, "t1")
        assert conn is not None
        ids, _, _ = upsert_remote_contacts(
            s, "t1", conn.id, [NAMESAKE.model_copy(update={"remote_id": listed[0]["remote_id"]})]
        )
        reconcile_remote(s, "t1", ids)
        _conn, run = writing_run(s)
        run_id = run.id
    with db.session() as s:
        link = s.scalar(select(Link))
        assert link is not None and link.app_synced_hash is None  # linked, not planned yet
        return run_id, link.id


def _run(run_id: int) -> SyncRun:
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        return run


def test_the_creates_go_out_first_and_the_run_waits_for_its_pairs(env: dict[str, str], sandbox: Any) -> None:
    run_id, link_id = _tenant_with_a_pair_and_an_app_only_contact(sandbox)
    first = plan_run_creates("t1", run_id)
    assert first is not None
    queued, _per_minute = first
    with db.session() as s:
        ops = s.scalars(select(WriteOp)).all()
        assert [(op.id, op.kind, op.status) for op in ops] == [(queued[0], "create", W.PENDING)]
        link = s.get(Link, link_id)
        assert link is not None and link.app_synced_hash is None  # the pair waits for the second step
    assert _run(run_id).writes_planned is False

    write_batch.apply(args=["t1", queued])  # the create is sent and settled before the pairs are planned
    with db.session() as s:
        assert [op.status for op in s.scalars(select(WriteOp))] == [W.DONE]
    run = _run(run_id)
    assert (run.status, run.finished_at, run.created_remote) == ("writing", None, 1)  # not ended: pairs to plan

    planned = plan_run_pairs("t1", run_id)
    assert planned is not None and planned[0] == []  # nothing open: the run ends here
    with db.session() as s:
        link = s.get(Link, link_id)
        assert link is not None and link.app_synced_hash is not None  # the pair's baseline
    run = _run(run_id)
    assert (run.status, run.writes_planned, run.created_remote) == ("succeeded", True, 1)


def test_a_batch_ending_its_run_as_the_pairs_plan_commits_sees_that_plan(env: dict[str, str], sandbox: Any) -> None:
    """The batch found nothing open before the plan committed, then waited for the run's row: read again with
    the row locked, the plan's entry is open, and the run goes on writing."""
    run_id, _link_id = _tenant_with_a_pair_and_an_app_only_contact(sandbox)
    first = plan_run_creates("t1", run_id)
    assert first is not None
    with db.session() as s:  # the create is done (its batch's last commit)
        s.execute(update(WriteOp).values(status=W.DONE))
    batch = Batch(write_batch, "t1", 0)
    batch.runs.add(run_id)
    with db.session() as s:  # the pairs' plan, about to commit: the run's row locked, its entry written
        run = lock_run(s, "t1", run_id)
        assert run is not None
        conn = connection_of(s, "t1")
        link = s.scalar(select(Link))
        assert conn is not None and link is not None
        late = WriteOp(tenant_id="t1", connection_id=conn.id, run_id=run_id, op_key="update:late", kind="update",
                       app_contact_id=link.app_contact_id, remote_id="r-late", payload={"changes": {}},
                       idempotency_key="k", status=W.PENDING)  # fmt: skip
        s.add(late)
        run.writes_planned = True
        s.flush()
        finishing = threading.Thread(target=_finish_runs_if_done, args=(batch,))
        finishing.start()
        _until(lambda: _waits_for_the_run_row() or not finishing.is_alive())
        assert finishing.is_alive(), "the batch did not wait for the run's row"
    finishing.join(timeout=30)
    run = _run(run_id)
    assert (run.status, run.finished_at) == ("writing", None)  # ended with an entry open, it would be `succeeded`


def test_a_planning_cut_short_after_its_creates_is_planned_again_by_the_re_drive(
    env: dict[str, str], sandbox: Any
) -> None:
    """Killed between its two steps, the planning left the run writing, its create open, its pairs unplanned:
    the re-drive sends the planning again (which queues the open create itself), not only the create."""
    run_id, link_id = _tenant_with_a_pair_and_an_app_only_contact(sandbox)
    assert plan_run_creates("t1", run_id) is not None
    with db.session() as s:
        s.execute(update(SyncRun).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
    _drain_queue("t1")
    assert redrive_stale_runs(60) == 1
    assert _queued_tasks("t1") == ["contactsync.plan_writes"]

    plan_writes.apply(args=["t1", run_id])  # the re-driven planning: its open create queued, then its pairs
    assert _queued_tasks("t1") == ["contactsync.write_batch", "contactsync.plan_pairs"]
    with db.session() as s:
        create = s.scalar(select(WriteOp.id))
    plan_linked_pairs.apply(args=["t1", run_id, create])
    assert _queued_tasks("t1") == []  # the create was queued before; the pair planned nothing to send
    with db.session() as s:
        link = s.get(Link, link_id)
        assert link is not None and link.app_synced_hash is not None
    assert _run(run_id).writes_planned is True


def test_with_nothing_to_create_the_pairs_are_planned_in_the_same_task(env: dict[str, str], sandbox: Any) -> None:
    """No create to send while the pairs are planned (an incremental run, as a rule): no hop through the queue."""
    run_id, link_id = _tenant_with_a_pair_and_an_app_only_contact(sandbox)
    with db.session() as s:
        s.execute(update(AppContact).where(AppContact.app_id == "a1").values(deleted=True))
    _drain_queue("t1")
    plan_writes.apply(args=["t1", run_id])
    assert _queued_tasks("t1") == []
    with db.session() as s:
        link = s.get(Link, link_id)
        assert link is not None and link.app_synced_hash is not None
        assert s.scalar(select(WriteOp)) is None
    assert _run(run_id).status == "succeeded"


def _waits_for_the_run_row() -> bool:
    with db.engine().connect() as conn:
        return bool(
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE '%%FOR UPDATE%%' AND pid <> pg_backend_pid()"
            ).scalar()
        )


def _until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came"
        time.sleep(0.01)


def _queue_key(tenant_id: str) -> str:
    settings = get_settings()
    return celery_keyprefix(settings.redis_prefix) + tenant_queue(tenant_id, settings.queue_shards)


def _drain_queue(tenant_id: str) -> None:
    client = redis.Redis.from_url(get_settings().require_redis_url())
    client.delete(_queue_key(tenant_id))
    client.close()


def _queued_tasks(tenant_id: str) -> list[str]:
    """The task names of the messages waiting in the tenant's queue, emptied as they are read."""
    client = redis.Redis.from_url(get_settings().require_redis_url())
    names: list[str] = []
    while (raw := client.rpop(_queue_key(tenant_id))) is not None:
        message: dict[str, Any] = json.loads(raw)
        if message["properties"].get("body_encoding") == "base64":
            base64.b64decode(message["body"])  # a well-formed message
        names.append(message["headers"]["task"])
    client.close()
    return names
