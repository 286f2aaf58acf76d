"""The HTTP layer notes each request's rate-limit slot answered when the answer (or the failure) is in: real
sandbox over HTTP, real Redis. The window is shortened to one second here (in this process only), so that when a
slot frees can be watched: a request the sandbox holds for 1.5 s frees its slot a window after its answer, not a
window after it was sent, and not only after the longest a request may take."""

from __future__ import annotations

import time

import pytest

from contactsync.providers import ratelimit
from contactsync.providers.base import Window
from contactsync.providers.errors import Transient
from contactsync.providers.merge import MergeProvider
from contactsync.providers.ratelimit import bucket_state, bucket_throttle
from contactsync.sandbox import SandboxHandle
from contactsync.sandbox.admin_client import SandboxAdmin
from tests.providers.conftest import merge_config

LATENCY_S = 1.5


@pytest.mark.parametrize(("connection_id", "faults"), [(51, {}), (52, {"error_rate": 1.0})], ids=["answer", "503"])
def test_a_slow_requests_slot_frees_a_window_after_its_answer(
    sandbox: SandboxHandle,
    admin: SandboxAdmin,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    connection_id: int,
    faults: dict[str, float],
) -> None:
    monkeypatch.setattr(ratelimit, "WINDOW_SECONDS", 1)
    token = admin.create_account(seed=connection_id, count=2, faults={"latency_ms": int(LATENCY_S * 1000), **faults})
    provider = MergeProvider(
        merge_config(sandbox, token), throttle=bucket_throttle(connection_id, per_minute=1, max_wait_seconds=0.1)
    )
    try:
        if faults:
            with pytest.raises(Transient):
                provider.fetch_page(Window(), None)
        else:
            provider.fetch_page(Window(), None)
    finally:
        provider.close()
    # Sent 1.5 s ago: counted from the send, the slot would be free again by now.
    assert bucket_state(connection_id, per_minute=1).room == 0
    time.sleep(1.3)
    # Answered 1.3 s ago: a window has passed (unanswered, it would be held for the HTTP deadline first).
    assert bucket_state(connection_id, per_minute=1).room == 1
