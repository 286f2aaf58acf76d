"""Failed requests to a unified API's host, counted across every worker (`providers.failure_window`): real Redis,
and the sandbox's limit on failed requests from one address over real HTTP (Merge answers every request from an
address with a 429 while more than 20 of its requests in 10 s failed)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.contact import CanonicalContact
from contactsync.embedded import refresh_process_settings
from contactsync.models import Connection
from contactsync.providers.errors import Permanent, RateLimited
from contactsync.providers.failure_window import guarded, host_of, wait_seconds
from contactsync.sandbox import SandboxHandle
from contactsync.store.tenants import provider_for
from tests.pipeline import connect_tenant


def test_only_failed_answers_fill_a_hosts_window(env: dict[str, str]) -> None:
    host = "merge.example:443"
    throttle = guarded(lambda: None, host, budget=3, window_seconds=30.0, max_wait_seconds=0.1)
    for status in (200, 201, 204, 429, None, 404):  # None: no answer came (a reset, a timeout)
        done = throttle()
        assert done is not None
        done(status)
    assert wait_seconds(host, 3, 30.0) == 0  # one failure so far: the 404
    for status in (400, 503):
        done = throttle()
        assert done is not None
        done(status)
    with pytest.raises(RateLimited) as held:
        throttle()
    assert 0 < held.value.retry_after <= 30.0
    assert wait_seconds("other.example:443", 3, 30.0) == 0  # another host counts its own


def test_a_held_request_goes_once_the_oldest_failure_leaves_the_window(env: dict[str, str]) -> None:
    host = "merge.example:8443"
    throttle = guarded(lambda: None, host, budget=2, window_seconds=0.5, max_wait_seconds=5.0)
    for _ in range(2):
        done = throttle()
        assert done is not None
        done(400)
    assert wait_seconds(host, 2, 0.5) > 0
    done = throttle()  # waits for the window, then goes
    assert done is not None
    assert wait_seconds(host, 2, 0.5) == 0


def test_host_of_keeps_the_port() -> None:
    assert host_of("https://api.merge.dev/api/accounting/v1") == "api.merge.dev:443"
    assert host_of("http://127.0.0.1:8123/api/accounting/v1") == "127.0.0.1:8123"


@pytest.mark.parametrize("budget", [10, 0], ids=["counted", "not counted"])
def test_refused_creates_never_get_the_address_blocked(
    sandbox: SandboxHandle, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, budget: int
) -> None:
    """A tenant whose 25 creates the platform refuses (names it has already; QuickBooks' error 6240), sent eight
    at once as a write group does: counted, the address never passes Merge's limit and every create gets its
    own answer; the control (`CONTACTSYNC_FAILED_REQUEST_BUDGET=0`) gets the address refused."""
    monkeypatch.setenv("CONTACTSYNC_FAILED_REQUEST_BUDGET", str(budget))
    refresh_process_settings()
    token = f"acct-failures-{budget}"
    # The control sends more, so that some arrive after the limit was passed whatever the threads' timing.
    body = {"token": token, "count": 25 if budget else 45, "unique_names": True, "faults": {"latency_ms": 30}}
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=30).raise_for_status()
    names = [row["name"] for row in httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/contacts", timeout=30).json()]
    httpx.patch(f"{sandbox.url}/_sandbox/address", json={"failures": 20, "window_s": 10}, timeout=30)
    with db.session() as s:
        # A short wait after a 429 without Retry-After, so that the control's refusals do not hold the test.
        connect_tenant(s, sandbox, token, options={"default_retry_after": 0.2})
        conn = s.scalar(select(Connection))
        assert conn is not None
        provider, _calls = provider_for(conn)

    def create(name: str) -> str:
        try:
            provider.create(CanonicalContact(name=name))
            return "created"
        except Permanent:
            return "refused"
        except RateLimited:
            return "limited"

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(create, names))
    address: dict[str, Any] = httpx.get(f"{sandbox.url}/_sandbox/address", timeout=30).json()
    if budget:
        assert outcomes == ["refused"] * len(names)
        assert address["limited"] == 0 and address["most_in_window"] <= 20
        assert time.monotonic() - started > 5  # the guard held requests back for the window (no upper bound)
    else:
        assert address["limited"] > 0 and "limited" in outcomes
