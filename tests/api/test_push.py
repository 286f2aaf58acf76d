"""Push: the changes feed POSTed to the app's URL by a real worker, signed, in sequence order, retried with
backoff after failures, each change accepted exactly once."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contactsync import db
from contactsync.sandbox import serve_in_thread
from contactsync.store import changes
from tests.api.conftest import ok
from tests.conftest import Workers

pytestmark = pytest.mark.pipeline
SECRET = "push-secret-0123456789"


class Receiver:
    """The app's endpoint: refuses the first `fail` deliveries, then accepts; keeps what it was sent."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.calls: list[tuple[int, str, bytes]] = []

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        status = 503 if len(self.calls) < self.fail else 200
        self.calls.append((status, request.headers.get("x-contactsync-signature", ""), body))
        return Response(status_code=status)


@pytest.fixture
def receiver() -> Iterator[tuple[str, Receiver]]:
    rec = Receiver(fail=2)
    with serve_in_thread(Starlette(routes=[Route("/hook", rec.handle, methods=["POST"])]), name="receiver") as served:
        yield f"{served.url}/hook", rec


def verified(signature: str, body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in signature.split(","))
    expected = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def test_changes_are_pushed_signed_in_order_after_retries(
    env: dict[str, str], admin: httpx.Client, workers: Workers, receiver: tuple[str, Receiver]
) -> None:
    url, rec = receiver
    ok(admin.post("/v1/tenants", json={"id": "t1", "name": "T"}), 201)
    pushed = ok(admin.put("/v1/tenants/t1/push", json={"url": url, "secret": SECRET}))
    assert SECRET not in str(pushed)
    workers.env["CONTACTSYNC_PUSH_RETRY_SECONDS"] = "0.2"
    workers.start(1)
    for batch in (5, 3, 2):  # three pipeline transactions, each announcing its changes on commit
        with db.session() as s:
            changes.record(s, "t1", [{"kind": "linked", "app_id": f"a{i}", "remote_id": f"r{i}"} for i in range(batch)])
    deadline = time.monotonic() + 60
    accepted: list[dict[str, Any]] = []
    while len(accepted) < 10:
        assert time.monotonic() < deadline, (rec.calls, workers.logs())
        time.sleep(0.2)
        accepted = [c for status, _, body in rec.calls if status == 200 for c in json.loads(body)["changes"]]
    time.sleep(1)  # anything sent twice would arrive now
    accepted = [c for status, _, body in rec.calls if status == 200 for c in json.loads(body)["changes"]]
    assert [c["seq"] for c in accepted] == list(range(1, 11))
    assert [status for status, _, _ in rec.calls][:3] == [503, 503, 200]
    assert all(verified(sig, body) for _, sig, body in rec.calls)
    assert not verified(rec.calls[0][1], rec.calls[0][2] + b" ")
