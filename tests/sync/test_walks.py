"""The walk rules of the sync core: creates wait for a full walk; only what a walk proves absent is deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contactsync.sync.walks import (
    Deletions,
    creates_allowed,
    deletions_after_walk,
    infers_deletions,
    unseen_judged_from,
    walk_shows_our_create,
)

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_creates_wait_for_the_first_complete_full_walk() -> None:
    assert not creates_allowed(None)
    assert creates_allowed(T0)


@pytest.mark.parametrize(
    ("option", "flags", "expected"),
    [(None, True, False), (None, False, True), (True, True, True), (False, False, False)],
)
def test_deletions_are_inferred_where_the_platform_flags_none_unless_the_option_says(
    option: bool | None, flags: bool, expected: bool
) -> None:
    assert infers_deletions(option, dialect_flags_deletions=flags) is expected


@pytest.mark.parametrize(
    ("full_walk", "infers", "still", "expected"),
    [
        (False, True, True, Deletions.NONE),  # an incremental walk sees only changes: absence means nothing
        (True, False, True, Deletions.NONE),  # the platform flags its deletions itself
        (True, True, True, Deletions.UNSEEN),  # a complete full walk of a still platform saw everything
        (True, True, False, Deletions.CONFIRMED),  # the platform changed under the walk: ask for each absentee
    ],
)
def test_what_a_finished_walk_may_mark_deleted(full_walk: bool, infers: bool, still: bool, expected: Deletions) -> None:
    assert deletions_after_walk(full_walk=full_walk, infers=infers, platform_was_still=still) is expected


def test_own_creates_younger_than_the_visibility_lag_are_not_judged() -> None:
    assert unseen_judged_from(T0, timedelta(seconds=30)) == T0 - timedelta(seconds=30)


def test_an_update_of_our_create_rests_only_on_a_walk_begun_after_the_lag() -> None:
    lag = timedelta(minutes=15)
    assert not walk_shows_our_create(T0, T0 + timedelta(minutes=14, seconds=59), lag)
    assert walk_shows_our_create(T0, T0 + lag, lag)
    assert not walk_shows_our_create(T0, None, lag)  # no walk known: nothing rests on one
    assert walk_shows_our_create(T0, T0, timedelta(0))  # a platform that lists its creates at once
