"""The shared rate-limit bucket and the post-429 cool-down, against a real Redis."""

from __future__ import annotations

import pytest

from contactsync.providers.errors import RateLimited
from contactsync.providers.ratelimit import bucket_throttle, note_rate_limited


def test_bucket_admits_its_budget_then_hands_the_wait_to_the_queue(env: dict[str, str]) -> None:
    throttle = bucket_throttle(1, per_minute=3, max_wait_seconds=0.2)
    for _ in range(3):
        throttle()  # admitted: returns
    with pytest.raises(RateLimited) as info:
        throttle()
    assert info.value.retry_after > 0


def test_bucket_is_shared_between_throttles_of_one_connection_only(env: dict[str, str]) -> None:
    first = bucket_throttle(7, per_minute=2, max_wait_seconds=0.2)
    second = bucket_throttle(7, per_minute=2, max_wait_seconds=0.2)
    other = bucket_throttle(8, per_minute=2, max_wait_seconds=0.2)
    first()
    second()
    with pytest.raises(RateLimited):
        first()
    other()  # another connection's bucket is untouched


def test_a_429_holds_back_every_worker_of_the_connection(env: dict[str, str]) -> None:
    throttle = bucket_throttle(9, per_minute=1000, max_wait_seconds=0.5)
    throttle()
    note_rate_limited(9, retry_after=30)
    with pytest.raises(RateLimited) as info:
        throttle()
    assert info.value.retry_after > 20
