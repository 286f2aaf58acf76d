"""Provider webhooks through the server: forged, unsigned, replayed and junk deliveries trigger nothing and
never answer 5xx; a valid one delivered three times starts one sync; huge bodies are refused while streaming."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.embedded import free_port
from contactsync.models import SyncRun, Tenant
from contactsync.store.tenant_admin import rotate_credentials
from contactsync.store.tenants import connection_of, upsert_tenant

SECRET = "whsec-api"
LINKED = "linked-account-1"


def sign(body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return {"X-Merge-Webhook-Signature": base64.urlsafe_b64encode(digest).decode().rstrip("=")}


def event(linked: str = LINKED, origin: str = "t1") -> bytes:
    return json.dumps(
        {
            "hook": {"id": "h", "event": "Contact.changed", "target": "x"},
            "linked_account": {"id": linked, "end_user_origin_id": origin},
            "data": {"id": "c1"},
        }
    ).encode()


@pytest.fixture
def tenant(env: dict[str, str]) -> None:
    with db.session() as s:
        upsert_tenant(
            s, "t1", name="T", dialect="merge", base_url="http://127.0.0.1:9", api_key="k", account_token="a",
            webhook_secret=SECRET, next_sync_at=None,
        )  # fmt: skip
        conn = connection_of(s, "t1")
        assert conn is not None
        rotate_credentials(s, conn, {"linked_account_id": LINKED})


def runs() -> list[SyncRun]:
    with db.session() as s:
        return list(s.scalars(select(SyncRun)))


def requested_at() -> Any:
    with db.session() as s:
        t = s.get(Tenant, "t1")
        assert t is not None
        return t.sync_requested_at


def test_forged_unsigned_foreign_and_junk_trigger_nothing(tenant: None, server: str) -> None:
    body = event()
    deep = b"[" * 100_000 + b"]" * 100_000
    with httpx.Client(base_url=server, timeout=30) as c:
        assert c.post("/webhooks/t1", content=body).status_code == 401
        assert c.post("/webhooks/t1", content=body, headers=sign(b"something else")).status_code == 401
        unknown = c.post("/webhooks/nobody", content=body, headers=sign(body))
        assert (unknown.status_code, unknown.json()) == (401, c.post("/webhooks/t1", content=body).json())
        assert (
            c.post("/webhooks/merge", content=event(origin="nobody"), headers=sign(event(origin="nobody"))).status_code
            == 401
        )
        foreign = event(linked="someone-elses-account")
        assert c.post("/webhooks/t1", content=foreign, headers=sign(foreign)).status_code == 403
        assert c.post("/webhooks/merge", content=foreign, headers=sign(foreign)).status_code == 403
        for junk in (b"[1, 2]", b'"text"', deep, b"{\x00}", b"\xff\xfe", b"", b"null"):
            for path in ("/webhooks/t1", "/webhooks/merge", "/webhooks/maesn?tenant=t1", "/webhooks/%00"):
                for headers in ({}, sign(junk)):
                    answer = c.post(path, content=junk, headers=headers)
                    assert 400 <= answer.status_code < 500, (path, junk[:20], answer.status_code)
        odd = c.post("/webhooks/t1", content=body, headers={"X-Merge-Webhook-Signature": "sïgnätüre".encode()})
        assert odd.status_code == 401
    assert runs() == [] and requested_at() is None


def test_valid_delivery_thrice_starts_one_sync(tenant: None, server: str) -> None:
    body = event()
    with httpx.Client(base_url=server, timeout=30) as c:
        first = c.post("/webhooks/merge", content=body, headers=sign(body))
        assert first.json() == {"status": "sync requested"}
        marked = requested_at()
        for _ in range(2):
            again = c.post("/webhooks/t1", content=body, headers=sign(body))
            assert again.json() == {"status": "duplicate delivery"}
    assert len(runs()) == 1
    # A replay does not even mark the tenant for a follow-up run.
    assert requested_at() == marked


@pytest.fixture
def served(env: dict[str, str], tenant: None, tmp_path: Any) -> Iterator[tuple[str, int]]:
    """`contactsync serve` as its own process, so its memory can be measured."""
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "contactsync", "serve", "--port", str(port)],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        raise AssertionError((tmp_path / "serve.log").read_text())
    yield url, proc.pid
    proc.terminate()
    proc.wait(20)
    log.close()


def test_four_parallel_150mb_bodies_keep_the_server_small(served: tuple[str, int]) -> None:
    url, pid = served
    chunk = b"x" * (1 << 20)
    answers: list[int | str] = []

    def send() -> None:
        def body() -> Iterator[bytes]:
            for _ in range(150):
                yield chunk

        try:
            answers.append(httpx.post(f"{url}/webhooks/t1", content=body(), headers=sign(b"x"), timeout=60).status_code)
        except httpx.HTTPError as exc:  # the server may close the connection while the body is still being sent
            answers.append(type(exc).__name__)

    server = psutil.Process(pid)
    threads = [threading.Thread(target=send) for _ in range(4)]
    peak = idle = server.memory_info().rss
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, server.memory_info().rss)
        time.sleep(0.01)
    assert len(answers) == 4 and all(a in (413, "RemoteProtocolError", "WriteError", "ReadError") for a in answers), (
        answers
    )
    print(f"server RSS idle {idle / 2**20:.0f} MB, peak with four 150 MB bodies {peak / 2**20:.0f} MB")
    assert peak < 300 * 1024 * 1024, f"server RSS peaked at {peak / 2**20:.0f} MB"
    assert runs() == []


def test_maesn_delivery_on_its_own_path(env: dict[str, str], server: str) -> None:
    with db.session() as s:
        upsert_tenant(s, "m1", name="M", dialect="maesn", base_url="http://127.0.0.1:9", api_key="k",
                      account_token="a", webhook_secret=SECRET, next_sync_at=None)  # fmt: skip
    body = json.dumps([{"eventType": "UPDATED", "resource": "contacts", "resourceId": "c1"}]).encode()
    signature = {"X-MAESN-SIGNATURE": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}
    with httpx.Client(base_url=server, timeout=30) as c:
        # A Maesn body on the Merge path, or for a Merge tenant, is refused like any bad signature.
        assert c.post("/webhooks/merge", content=body, headers=signature).status_code == 401
        assert c.post("/webhooks/maesn", params={"tenant": "m1"}, content=body, headers=signature).json() == {
            "status": "sync requested"
        }
        assert c.post("/webhooks/maesn", params={"tenant": "m1"}, content=body, headers=signature).json() == {
            "status": "duplicate delivery"
        }
    assert len(runs()) == 1
