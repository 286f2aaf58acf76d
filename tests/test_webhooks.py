"""Provider webhooks request incremental syncs; a bad signature changes nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.api import create_app
from contactsync.models import AppContact, SyncRun, Tenant
from contactsync.receiver import accept_webhook
from contactsync.sandbox import serve_in_thread
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.schedule import trigger_sync
from tests.conftest import Workers
from tests.pipeline import a_matched_pair, setup_tenant, wait_run

SECRET = "whsec-test"


def merge_sig(body: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode().rstrip("=")


def event(kind: str = "Contact.changed") -> bytes:
    return json.dumps({"hook": {"id": "h", "event": kind, "target": "x"}, "data": {"id": "c1"}}).encode()


@pytest.fixture
def tenant(env: dict[str, str]) -> None:
    with db.session() as s:
        upsert_tenant(
            s, "t1", name="T", dialect="merge", base_url="http://127.0.0.1:9", api_key="k", account_token="a",
            webhook_secret=SECRET,
        )  # fmt: skip
        t = s.get(Tenant, "t1")
        assert t is not None
        t.next_sync_at = None


def runs() -> list[SyncRun]:
    with db.session() as s:
        return list(s.scalars(select(SyncRun)))


def test_bad_signature_is_refused_and_changes_nothing(tenant: None) -> None:
    body = event()
    assert accept_webhook("t1", body, {"x-merge-webhook-signature": merge_sig(b"other")}).status == 401
    assert accept_webhook("t1", body, {}).status == 401
    # An unknown tenant gets the very same answer as a bad signature.
    assert accept_webhook("nobody", body, {"x-merge-webhook-signature": merge_sig(body)}) == accept_webhook(
        "t1", body, {}
    )
    assert runs() == []


def test_signed_contact_event_starts_one_run_and_marks_the_tenant(tenant: None) -> None:
    body = event()
    assert accept_webhook("t1", body, {"x-merge-webhook-signature": merge_sig(body) + "=="}).reason == "sync requested"
    other = event("Contact.added")
    assert accept_webhook("t1", other, {"x-merge-webhook-signature": merge_sig(other)}).status == 202
    started = runs()
    assert len(started) == 1 and started[0].trigger == "webhook"  # the second found the lease taken
    with db.session() as s:
        t = s.get(Tenant, "t1")
        assert t is not None and t.sync_requested_at is not None


def test_event_for_another_model_requests_nothing(tenant: None) -> None:
    body = event("Invoice.changed")
    assert accept_webhook("t1", body, {"x-merge-webhook-signature": merge_sig(body)}).reason == "no contact event"
    assert runs() == []


@pytest.fixture
def receiver(env: dict[str, str]) -> Iterator[str]:
    with serve_in_thread(create_app(), name="api") as api:
        yield api.url


@pytest.mark.pipeline
def test_platform_edit_announced_by_webhook_reaches_the_app(
    env: dict[str, str], workers: Workers, sandbox: Any, receiver: str
) -> None:
    _split, token = setup_tenant(sandbox, size=40, seed=15)
    with db.session() as s:
        conn_row = s.get(Tenant, "t1")
        assert conn_row is not None
        conn_row.sync_interval_seconds = 3600  # only the webhook can bring the change in time
    from contactsync.store.tenants import connection_of, vault

    with db.session() as s:
        conn = connection_of(s, "t1")
        assert conn is not None
        secrets = vault().open(conn.credentials) | {"webhook_secret": SECRET}
        conn.credentials = vault().seal(secrets)
    workers.start(1)
    first = trigger_sync("t1", full=True)
    assert first is not None and wait_run(first, workers).status == "succeeded"
    hook = {"url": f"{receiver}/webhooks/t1", "secret": SECRET, "scheme": "merge"}
    httpx.patch(f"{sandbox.url}/_sandbox/accounts/{token}", json={"webhook": hook}, timeout=10).raise_for_status()
    remote_id, app_id = a_matched_pair()
    httpx.post(
        f"{sandbox.url}/_sandbox/accounts/{token}/mutate",
        json={"op": "edit", "id": remote_id, "changes": {"emails": ["books@example.org"]}},
        timeout=10,
    ).raise_for_status()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        hooked = [r for r in runs() if r.trigger == "webhook" and r.finished_at is not None]
        if hooked:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"no webhook-triggered run finished:\n{workers.logs()}")
    assert hooked[0].status == "succeeded" and hooked[0].kind == "incremental"
    with db.session() as s:
        app = s.scalar(select(AppContact).where(AppContact.app_id == app_id))
        assert app is not None and app.data["emails"][0] == "books@example.org"
