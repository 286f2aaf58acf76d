"""The pure rules that decide whether a page-numbered walk is complete, must read again, or may infer deletions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contactsync.providers.walk_rules import (
    Action,
    Mode,
    Row,
    Signal,
    changed_during,
    group_to_reread,
    keyset_step,
    page_signals,
    pass_verdict,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def rows(*minutes: int | None) -> list[Row]:
    return [Row(f"r{i}", None if m is None else T0 + timedelta(minutes=m)) for i, m in enumerate(minutes)]


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_keyset_moves_since_to_the_newest_row_and_predicts_the_next_count():
    step = keyset_step(None, rows(1, 2, 3), served=3, limit=3, total=10, expected=None)
    assert step.trusted and not step.done and step.since == at(3) and not step.same_since
    assert step.expected == 8  # two rows older than the new `since` left the window; the tie stays in it


def test_keyset_ends_on_a_short_page():
    step = keyset_step(at(3), rows(3, 4), served=2, limit=3, total=2, expected=2)
    assert step.trusted and step.done


def test_keyset_page_of_one_change_time_asks_for_the_next_page_of_that_time():
    step = keyset_step(at(5), rows(5, 5, 5), served=3, limit=3, total=9, expected=9)
    assert step.trusted and step.same_since and step.since == at(5) and step.expected == 9


def test_keyset_is_not_trusted_when_the_server_breaks_its_contract():
    assert keyset_step(at(5), rows(4, 6), served=2, limit=2, total=5, expected=None).reason is Signal.FILTER_IGNORED
    assert keyset_step(None, rows(2, 1), served=2, limit=2, total=5, expected=None).reason is Signal.OUT_OF_ORDER
    assert keyset_step(None, rows(1, None), served=2, limit=2, total=5, expected=None).reason is Signal.NO_CHANGE_TIME
    assert keyset_step(None, [], served=2, limit=2, total=5, expected=None).reason is Signal.NO_CHANGE_TIME
    assert keyset_step(None, rows(1, 2), served=2, limit=2, total=None, expected=None).reason is Signal.NO_TOTAL


def test_keyset_count_below_the_prediction_means_rows_left_unread():
    # Creation order with a recent edit last on the page looks ordered; the count gives it away.
    step = keyset_step(at(9), rows(9), served=1, limit=5, total=1, expected=8)
    assert not step.trusted and step.reason is Signal.ROWS_UNACCOUNTED
    # More than predicted is rows changed into the window while walking: nothing is lost by that.
    assert keyset_step(at(9), rows(9, 10), served=2, limit=5, total=12, expected=8).trusted


def test_page_signals_name_each_kind_of_drift():
    started = at(10)
    assert page_signals(rows(1, 2), seen=set(), first_total=5, total=5, started=started) == set()
    assert page_signals(rows(1, 2), seen={"r1"}, first_total=5, total=5, started=started) == {Signal.SEEN_BEFORE}
    assert page_signals(rows(1, 2), seen=set(), first_total=5, total=4, started=started) == {Signal.TOTAL_CHANGED}
    assert page_signals(rows(1, 10), seen=set(), first_total=5, total=5, started=started) == {
        Signal.CHANGED_DURING_WALK
    }
    assert page_signals(rows(1, 10), seen=set(), first_total=None, total=5, started=None) == set()


def test_changed_during_compares_with_the_walks_start():
    assert changed_during(rows(1, 10), at(10)) and not changed_during(rows(1, 9), at(10))
    assert not changed_during(rows(10), None)


def test_a_clean_pass_completes_and_may_infer_deletions_only_if_nothing_changed():
    assert pass_verdict(Mode.PAGES, set(), changed=False, passes=1, max_passes=3).infer_deletions
    quiet_end = pass_verdict(Mode.PAGES, set(), changed=True, passes=2, max_passes=3)
    assert quiet_end.action is Action.COMPLETE and not quiet_end.infer_deletions


def test_a_pass_with_drift_reads_again_then_gives_up_with_the_reason():
    again = pass_verdict(Mode.PAGES, {Signal.SEEN_BEFORE}, changed=True, passes=1, max_passes=3)
    assert again.action is Action.REREAD and not again.infer_deletions
    done = pass_verdict(Mode.PAGES, {Signal.TOTAL_CHANGED}, changed=True, passes=3, max_passes=3)
    assert done.action is Action.GIVE_UP and "total changed" in done.reason and "3 passes" in done.reason


def test_a_keyset_walk_is_complete_even_when_rows_changed_but_then_infers_no_deletion():
    busy = pass_verdict(Mode.KEYSET, set(), changed=True, passes=1, max_passes=1)
    assert busy.action is Action.COMPLETE and not busy.infer_deletions
    assert pass_verdict(Mode.KEYSET, set(), changed=False, passes=1, max_passes=1).infer_deletions


def test_a_tie_group_is_read_again_when_a_row_changed_while_it_was_read():
    groups = {at(0): (at(10), at(12)), at(1): (at(20), None)}
    assert group_to_reread(rows(11), groups) == at(0)  # changed while the first group was read
    assert group_to_reread(rows(13), groups) is None  # after it was left: nothing moved under it
    assert group_to_reread(rows(25), groups) == at(1)  # the second group is still being read
    assert group_to_reread(rows(0, 1, 5), groups) is None  # the groups' own rows, and older changes
