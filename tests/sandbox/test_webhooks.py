"""Signed webhooks from the sandbox, verified with the providers' helpers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from contactsync.providers.webhooks import (
    maesn_events,
    merge_events,
    verify_maesn_signature,
    verify_merge_signature,
)
from contactsync.sandbox import SandboxHandle, run_in_thread
from contactsync.sandbox.admin_client import SandboxAdmin


class _Receiver(ThreadingHTTPServer):
    received: list[tuple[dict[str, str], bytes]]


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver(("127.0.0.1", 0), _Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with run_in_thread() as handle:
        yield handle


def _url(server: _Receiver) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/hooks"


def test_merge_webhooks_are_signed_and_describe_the_change(sandbox, receiver):
    admin = SandboxAdmin(sandbox.url)
    token = admin.create_account(count=2, webhook={"url": _url(receiver), "secret": "k1", "scheme": "merge"})
    assert sandbox.state.webhooks.drain() and receiver.received == []  # the initial books are not news
    target = admin.contacts(token)[0]["remote_id"]
    admin.mutate(token, "edit", id=target, changes={"name": "Hooked GmbH"})
    api = httpx.Client(base_url=sandbox.url, headers={"Authorization": "Bearer x", "X-Account-Token": token})
    api.post("/api/accounting/v1/contacts", json={"model": {"name": "Via API Ltd"}})
    admin.mutate(token, "delete", id=target)
    assert sandbox.state.webhooks.drain()
    assert len(receiver.received) == 3
    kinds = []
    for headers, body in receiver.received:
        signature = headers["x-merge-webhook-signature"]
        assert verify_merge_signature(body, signature, "k1")
        assert not verify_merge_signature(body, signature, "wrong")
        assert not verify_merge_signature(body + b" ", signature, "k1")
        (event,) = merge_events(body)
        kinds.append(event.kind)
        assert json.loads(body)["linked_account"]["end_user_origin_id"] == token
    assert kinds == ["updated", "created", "deleted"]
    assert merge_events(receiver.received[0][1])[0].remote_id == target
    admin.close()


def test_maesn_webhooks_are_an_array_signed_in_hex(sandbox, receiver):
    admin = SandboxAdmin(sandbox.url)
    token = admin.create_account(count=1)
    admin.configure(token, webhook={"url": _url(receiver), "secret": "s2", "scheme": "maesn"})
    target = admin.contacts(token)[0]["remote_id"]
    admin.mutate(token, "archive", id=target)
    assert sandbox.state.webhooks.drain()
    ((headers, body),) = receiver.received
    assert verify_maesn_signature(body, headers["x-maesn-signature"], "s2")
    assert not verify_maesn_signature(body, headers["x-maesn-signature"], "s3")
    payload = json.loads(body)
    assert isinstance(payload, list) and payload[0]["data"]["status"] == "ARCHIVED"
    assert maesn_events(body)[0].remote_id == target
    admin.close()


def test_an_unreachable_webhook_url_never_breaks_the_sandbox(sandbox):
    admin = SandboxAdmin(sandbox.url)
    token = admin.create_account(count=1, webhook={"url": "http://127.0.0.1:9/none", "secret": "k"})
    failed_before = sandbox.state.webhooks.failed
    target = admin.contacts(token)[0]["remote_id"]
    admin.mutate(token, "edit", id=target, changes={"name": "Still Fine Ltd"})
    assert sandbox.state.webhooks.drain()
    assert sandbox.state.webhooks.failed == failed_before + 1
    assert admin.contacts(token)[0]["name"] == "Still Fine Ltd"
    admin.close()


def test_verification_tolerates_padding_and_standard_alphabet():
    import base64
    import hashlib
    import hmac

    body = b'{"x": 1}'
    raw = hmac.new(b"k", body, hashlib.sha256).digest()
    assert verify_merge_signature(body, base64.b64encode(raw).decode(), "k")
    assert verify_merge_signature(body, base64.urlsafe_b64encode(raw).decode(), "k")
    assert not verify_merge_signature(body, "", "k")
    assert verify_maesn_signature(body, "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest().upper(), "k")
    assert merge_events(b'{"hook": {"event": "LINKED_ACCOUNT.SYNCED"}, "data": {}}')[0].kind == "synced"
    assert merge_events(b'{"hook": {"event": "Invoice.changed"}, "data": {}}') == []
