"""The reconcile task reconciles its page and nothing more: the run's advance (with the model's refit, which reads
both whole sides) is sent as a task of its own by the page task that finds every page reconciled. Real
PostgreSQL and Redis; no worker consumes the queue, so the messages are read where they wait."""

from __future__ import annotations

import base64
import json
from typing import Any

import redis

from contactsync import db
from contactsync.models import RunPage, SyncRun
from contactsync.redis_keys import celery_keyprefix, tenant_queue
from contactsync.settings import get_settings
from contactsync.states import RunStatus
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.runs import start_run, transition_run
from contactsync.store.tenants import connection_of
from contactsync.tasks.reconcile import reconcile
from tests.test_store import company, make_tenant


def queued(tenant_id: str) -> list[tuple[str, list[Any]]]:
    """(task name, args) of the messages waiting in the tenant's queue."""
    settings = get_settings()
    client = redis.Redis.from_url(settings.require_redis_url())
    key = celery_keyprefix(settings.redis_prefix) + tenant_queue(tenant_id, settings.queue_shards)
    out = []
    for raw in client.lrange(key, 0, -1):
        message: dict[str, Any] = json.loads(raw)
        body = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, _kwargs, _embed = json.loads(body)
        out.append((message["headers"]["task"], args))
    client.close()
    return out


def test_the_page_task_that_finds_every_page_reconciled_sends_the_advance(env: dict[str, str]) -> None:
    conn_id = make_tenant()
    with db.session() as s:
        ids, _, _ = upsert_remote_contacts(
            s, "t1", conn_id, [company(f"Firma {i} GmbH", remote_id=f"r{i}") for i in range(4)]
        )
        conn = connection_of(s, "t1")
        assert conn is not None
        run = start_run(s, conn)
        assert run is not None
        for page_no, page_ids in enumerate([ids[:2], ids[2:]]):
            s.add(RunPage(tenant_id="t1", run_id=run.id, page_no=page_no, remote_contact_ids=page_ids))
        transition_run(s, run, RunStatus.RECONCILING)  # the walk has ended
        run_id = run.id
    reconcile("t1", run_id, 0)
    assert [name for name, _ in queued("t1")] == []  # page 1 still waits: not this task's to send
    reconcile("t1", run_id, 1)
    assert queued("t1") == [("contactsync.advance", ["t1", run_id])]
    with db.session() as s:
        # The refit and the move to writing are the advance's, not the page task's.
        assert s.get(SyncRun, run_id).status == RunStatus.RECONCILING  # type: ignore[union-attr]
