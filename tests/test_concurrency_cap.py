"""A connection's cap on requests at once, shared by every worker (`providers.concurrency`): real Redis, and the
sandbox's per-account concurrency limit over real HTTP (a platform such as Xero answers a sixth request at once
with a 429 "concurrent")."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from contactsync.providers.base import Window
from contactsync.providers.concurrency import capped, hold, in_flight, release
from contactsync.providers.errors import RateLimited
from contactsync.providers.merge import MergeProvider
from contactsync.providers.ratelimit import bucket_state, bucket_throttle
from contactsync.sandbox import SandboxHandle
from contactsync.tasks.schedule import trigger_sync
from tests.conftest import Workers
from tests.pipeline import assert_each_app_contact_once, platform_contacts, setup_tenant, sync_until_settled
from tests.providers.conftest import merge_config


def test_no_more_than_the_cap_is_held_at_once_and_every_request_gets_its_turn(env: dict[str, str]) -> None:
    throttle = capped(lambda: None, 101, limit=2, max_wait_seconds=30)
    lock = threading.Lock()
    now, most, served = 0, 0, 0

    def request() -> None:
        nonlocal now, most, served
        done = throttle()
        with lock:
            now += 1
            most = max(most, now)
        time.sleep(0.1)
        with lock:
            now -= 1
            served += 1
        assert done is not None
        done()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda _i: request(), range(12)))
    assert served == 12
    assert most == 2  # the cap was reached, never passed
    assert in_flight(101) == 0  # every hold released


def test_two_throttles_of_one_connection_share_the_cap_and_other_connections_do_not(env: dict[str, str]) -> None:
    first = capped(lambda: None, 102, limit=1, max_wait_seconds=0.2)
    second = capped(lambda: None, 102, limit=1, max_wait_seconds=0.2)
    other = capped(lambda: None, 103, limit=1, max_wait_seconds=0.2)
    done = first()
    with pytest.raises(RateLimited):
        second()  # another worker's throttle of the same connection waits for the place, then hands back
    other_done = other()
    assert done is not None and other_done is not None
    done()
    again = second()
    assert again is not None
    again()
    other_done()


def test_a_hold_not_renewed_lapses_on_its_own(env: dict[str, str]) -> None:
    assert hold(104, limit=1, seconds=0.3) is not None
    assert hold(104, limit=1, seconds=0.3) is None
    time.sleep(0.4)  # a hold with its own lease is not renewed (whenever the process's renewals come)
    holder = hold(104, limit=1, seconds=0.3)
    assert holder is not None
    release(104, holder)
    assert in_flight(104) == 0


_HOLDER = """
import time
import contactsync.providers.concurrency as concurrency
concurrency.LEASE_SECONDS, concurrency.RENEW_SECONDS = 1.0, 0.2
print("held" if concurrency.hold(107, limit=1) else "refused", flush=True)
time.sleep(120)
"""


def test_a_live_process_keeps_its_place_past_the_lease_and_a_killed_one_loses_it_within_the_lease(
    env: dict[str, str],
) -> None:
    """A request may take minutes (up to the HTTP deadline): its process renews its place while it waits. A worker
    killed mid-request renews nothing, and its place frees within the lease, not after the HTTP deadline."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER], env={**os.environ, **env}, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        time.sleep(2.5)  # more than twice the lease
        assert hold(107, limit=1) is None  # renewed: still held
    finally:
        process.kill()
        process.wait()
    time.sleep(1.5)  # the lease, and a little
    holder = hold(107, limit=1)
    assert holder is not None
    release(107, holder)


def test_a_request_waiting_for_its_place_takes_no_rate_limit_slot_and_a_failed_take_frees_its_place(
    env: dict[str, str],
) -> None:
    bucket = bucket_throttle(105, per_minute=1, max_wait_seconds=0.1)
    throttle = capped(bucket, 105, limit=1, max_wait_seconds=0.2)
    holder = hold(105, limit=1)
    assert holder is not None
    with pytest.raises(RateLimited):
        throttle()  # no place: the bucket is not asked
    assert bucket_state(105, per_minute=1).room == 1
    release(105, holder)
    done = throttle()  # a place, and the bucket's one slot
    assert done is not None
    done()
    with pytest.raises(RateLimited):
        throttle()  # a place, but the bucket is empty: the place is given back
    assert in_flight(105) == 0


def test_the_sandbox_refuses_a_request_beyond_its_concurrency_limit(sandbox: SandboxHandle) -> None:
    token = "acct-concurrency-limit"
    body = {
        "token": token,
        "count": 3,
        "max_concurrent": 1,
        "rate_limit_headers": "xero",
        "faults": {"latency_ms": 400},
    }
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=30).raise_for_status()
    headers = {"Authorization": "Bearer test-key", "X-Account-Token": token}
    url = f"{sandbox.url}/api/accounting/v1/contacts"
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(httpx.get, url, headers=headers, timeout=30)
        time.sleep(0.1)
        second = pool.submit(httpx.get, url, headers=headers, timeout=30)
        answers = sorted([first.result(), second.result()], key=lambda r: r.status_code)
    assert [r.status_code for r in answers] == [200, 429]
    assert answers[1].headers["X-Rate-Limit-Problem"] == "concurrent"
    stats = httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/stats", timeout=30).json()
    assert stats["concurrency_limited"] == 1 and stats["rate_limited"] == 0


@pytest.mark.parametrize("cap", [2, None], ids=["capped", "uncapped"])
def test_a_provider_behind_the_cap_is_never_refused_for_concurrency(
    sandbox: SandboxHandle, env: dict[str, str], cap: int | None
) -> None:
    token = f"acct-concurrency-{cap}"
    body = {"token": token, "count": 20, "max_concurrent": 2, "faults": {"latency_ms": 150}}
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=30).raise_for_status()
    connection_id = 110 if cap else 111
    throttle: Callable[[], Any] = bucket_throttle(connection_id, per_minute=100_000)
    if cap is not None:
        throttle = capped(throttle, connection_id, cap)
    provider = MergeProvider(merge_config(sandbox, token), throttle=throttle)

    def fetch(_i: int) -> str:
        try:
            provider.fetch_page(Window(), None)
            return "ok"
        except RateLimited:
            return "refused"

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(fetch, range(16)))
    finally:
        provider.close()
    stats = httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/stats", timeout=30).json()
    if cap is not None:
        assert outcomes == ["ok"] * 16
        assert stats["concurrency_limited"] == 0
        assert stats["most_in_flight"] == 2
    else:
        # The same requests without the cap: the platform refuses some (what the cap is for).
        assert stats["concurrency_limited"] > 0 and "refused" in outcomes


@pytest.mark.pipeline
def test_a_connections_cap_holds_across_worker_processes_through_a_whole_sync(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    """Two worker processes, each sending write groups of eight side by side, against a platform that serves
    three requests of the account at once: with the connection's `max_concurrent_requests` at three the platform
    never refuses one, and every app contact arrives once."""
    split, token = setup_tenant(
        sandbox, size=120, seed=61, faults={"latency_ms": 60}, options={"max_concurrent_requests": 3}
    )
    httpx.patch(f"{sandbox.url}/_sandbox/accounts/{token}", json={"max_concurrent": 3}, timeout=30).raise_for_status()
    workers.start(1, concurrency=2)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    runs = sync_until_settled(run_id, workers)
    assert runs[-1].status == "succeeded", [(r.id, r.status, r.error) for r in runs]
    stats = httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/stats", timeout=30).json()
    assert stats["creates"] > 20  # enough requests side by side for the cap to matter
    assert stats["concurrency_limited"] == 0
    assert stats["most_in_flight"] <= 3
    assert_each_app_contact_once(split, platform_contacts(sandbox, token))


def test_a_short_hold_does_not_take_the_longer_ones_with_it(env: dict[str, str]) -> None:
    """The connection's key lapses as a whole when no hold is left; a hold taken with a shorter lease than the
    others never shortens the key's life under them."""
    first = hold(108, limit=2)  # the default lease
    assert first is not None
    assert hold(108, limit=2, seconds=0.2) is not None  # not renewed: it lapses on its own
    time.sleep(1.5)  # the short hold and its key's margin
    assert in_flight(108) == 1  # the long hold is still there
    release(108, first)
