"""The shared rate-limit bucket and the post-429 cool-down, against a real Redis."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from contactsync.providers import ratelimit
from contactsync.providers.errors import RateLimited
from contactsync.providers.ratelimit import (
    WINDOW_SECONDS,
    answered,
    book_later,
    bucket_state,
    bucket_throttle,
    note_rate_limited,
    prepaid_slot,
    reserve,
)
from contactsync.settings import get_settings


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


def test_bucket_state_says_how_long_without_taking_a_slot(env: dict[str, str]) -> None:
    assert bucket_state(11, per_minute=2).wait == 0
    throttle = bucket_throttle(11, per_minute=2, max_wait_seconds=0.2)
    throttle()
    assert bucket_state(11, per_minute=2).wait == 0  # one slot left, and asking took none of it
    throttle()
    assert 0 < bucket_state(11, per_minute=2).wait <= WINDOW_SECONDS
    note_rate_limited(12, retry_after=30)
    assert 20 < bucket_state(12, per_minute=1000).wait <= 30  # a 429's cool-down counts too


def test_bucket_state_says_how_much_room_is_left_without_taking_a_slot(env: dict[str, str]) -> None:
    assert bucket_state(13, per_minute=3).room == 3
    throttle = bucket_throttle(13, per_minute=3, max_wait_seconds=0.2)
    throttle()
    assert bucket_state(13, per_minute=3) == bucket_state(13, per_minute=3)  # asking took nothing
    assert bucket_state(13, per_minute=3).room == 2
    throttle()
    throttle()
    empty = bucket_state(13, per_minute=3)
    assert empty.room == 0 and 0 < empty.wait <= WINDOW_SECONDS
    note_rate_limited(14, retry_after=30)
    cooling = bucket_state(14, per_minute=1000)
    assert cooling.room == 0 and 20 < cooling.wait <= 30  # a 429's cool-down leaves no room however empty the bucket


def test_hand_back_bookings_follow_one_another_at_the_buckets_pace(env: dict[str, str]) -> None:
    now = time.time()
    first = book_later(13, per_minute=62, requests=10, earliest=now + 5)
    assert first == pytest.approx(now + 5)
    # Each request books the bucket's long-run share: its window over its budget (here one second).
    second = book_later(13, per_minute=62, requests=3, earliest=now)
    assert second == pytest.approx(first + 10 * WINDOW_SECONDS / 62)
    later = book_later(13, per_minute=62, requests=1, earliest=now + 3600)
    assert later == pytest.approx(now + 3600)  # a wait beyond the bookings starts where it must
    assert book_later(14, per_minute=62, requests=1, earliest=now) == pytest.approx(now)  # per connection


def test_reserve_takes_what_is_asked_while_there_is_room_then_what_is_left_then_nothing(env: dict[str, str]) -> None:
    assert reserve(21, per_minute=5, wanted=3).room == 3
    assert bucket_state(21, per_minute=5).room == 2
    assert reserve(21, per_minute=5, wanted=3).room == 2  # the rest of the room, not all or nothing
    empty = reserve(21, per_minute=5, wanted=1)
    assert empty.room == 0 and 0 < empty.wait <= WINDOW_SECONDS
    note_rate_limited(22, retry_after=30)
    cooling = reserve(22, per_minute=1000, wanted=4)
    assert cooling.room == 0 and 20 < cooling.wait <= 30  # a 429's cool-down admits no group


def test_batches_reserving_at_once_never_take_more_than_the_room(env: dict[str, str]) -> None:
    """Eight batches of one tenant reserve groups of up to five from a bucket of twelve, all at the same moment:
    together they take exactly twelve slots (read-then-take would let several count the same room)."""
    start = threading.Barrier(8)

    def batch() -> int:
        start.wait()
        return reserve(23, per_minute=12, wanted=5).room

    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = list(pool.map(lambda _i: batch(), range(8)))
    assert sum(taken) == 12 and max(taken) <= 5
    assert bucket_state(23, per_minute=12).room == 0


def test_a_prepaid_request_takes_no_slot_but_the_next_one_does(env: dict[str, str]) -> None:
    throttle = bucket_throttle(24, per_minute=2, max_wait_seconds=0.2)
    assert reserve(24, per_minute=2, wanted=2).room == 2
    with prepaid_slot():
        throttle()  # spends its reserved slot: the bucket is full, yet it is not held back
        with pytest.raises(RateLimited):
            throttle()  # a second request of the same call takes a slot of its own, and there is none
    with prepaid_slot():
        note_rate_limited(24, retry_after=30)
        with pytest.raises(RateLimited):
            throttle()  # a 429's cool-down holds back a prepaid request too


def test_a_slot_frees_a_window_after_its_request_was_answered_not_after_it_was_taken(env: dict[str, str]) -> None:
    """The platform counts a request when it arrives, which may be any time until its answer: a slot counted from
    when it was taken could let a slow request's arrival and a later one's share a platform window."""
    throttle = bucket_throttle(31, per_minute=1, max_wait_seconds=0.2)
    note_answer = throttle()
    time.sleep(1.0)  # the request takes a second
    note_answer()
    wait = bucket_state(31, per_minute=1).wait
    # Counted from the take it would be 59 s; from the answer it is (nearly) the whole window.
    assert WINDOW_SECONDS - 0.3 < wait <= WINDOW_SECONDS


def test_an_unanswered_slot_is_held_for_the_longest_a_request_may_take_then_a_window(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed mid-request never notes its answer: the slot is held until the request can no longer
    arrive (the HTTP deadline), and a window after that; one whose answer is noted frees a window after it."""
    monkeypatch.setattr(ratelimit, "WINDOW_SECONDS", 1)
    monkeypatch.setenv("CONTACTSYNC_HTTP_DEADLINE_SECONDS", "2")
    get_settings.cache_clear()
    try:
        lost = bucket_throttle(32, per_minute=1, max_wait_seconds=0.2)
        lost()  # never answered
        answered_one = bucket_throttle(33, per_minute=1, max_wait_seconds=0.2)
        answered_one()()  # answered at once
        time.sleep(1.3)
        assert bucket_state(33, per_minute=1).room == 1  # a window after its answer
        assert bucket_state(32, per_minute=1).room == 0  # still possibly on its way
        time.sleep(2.0)
        assert bucket_state(32, per_minute=1).room == 1  # past the deadline and a window
    finally:
        get_settings.cache_clear()


def test_answered_slots_never_count_later_than_they_did(env: dict[str, str]) -> None:
    """Noting a slot answered again (a group noted after its requests each were) does not hold it longer."""
    slots = reserve(34, per_minute=1, wanted=1).slots
    answered(34, slots)
    first = bucket_state(34, per_minute=1).wait
    time.sleep(0.5)
    answered(34, slots)
    assert bucket_state(34, per_minute=1).wait <= first - 0.4


def test_reserve_names_the_slots_it_took(env: dict[str, str]) -> None:
    first = reserve(35, per_minute=5, wanted=3)
    second = reserve(35, per_minute=5, wanted=3)
    assert len(first.slots) == 3 and len(second.slots) == 2
    assert not set(first.slots) & set(second.slots)
    assert reserve(35, per_minute=5, wanted=1).slots == ()
