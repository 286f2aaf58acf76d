"""When a page-numbered walk is complete, when it must be read again, and when it may infer deletions.

Page numbers are not cursors. While a walk runs, the platform keeps changing: on a list ordered by change time
an edited record moves to the end and every row after its old place moves up one, so the row at the next page
boundary lands on a page already read and is never seen; a deletion does the same, and on a list ordered by
anything else an edit can move a row backwards past the walk. None of this changes `total` when an addition
balances a deletion, and an edit never changes it, so comparing totals alone misses most of it.

Two ways to walk a list, both decided here as pure functions over what the pages said:

- **keyset**: ask for the first page of `lastModified >= since`, then move `since` to the newest change time on
  that page. A list ordered by change time (oldest first) is then read without any offset at all: an edited
  record reappears later, a deleted one cannot push an unread one backwards. A page is trusted only while the
  server visibly keeps that contract (every row carries a change time, the rows are in order, none is older than
  `since`); the first page that breaks it switches the list to `pages`.
- **pages**: plain page numbers, with drift detection. A pass that saw a row twice, a changed total or a row
  changed since the walk began may have skipped rows: the list is read again (the union of passes counts), up to a
  bounded number of passes; after that the walk gives up with a reason rather than retrying forever.

A walk that saw the platform change never infers a deletion: "not seen" means "deleted" only for a walk that
saw a still platform from its first page to its last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise


class Mode(StrEnum):
    KEYSET = "keyset"
    PAGES = "pages"


class Signal(StrEnum):
    """Evidence that rows moved under a walk."""

    TOTAL_CHANGED = "total changed"
    SEEN_BEFORE = "row seen before"
    CHANGED_DURING_WALK = "row changed during the walk"
    OUT_OF_ORDER = "rows not in change-time order"
    FILTER_IGNORED = "lastModified filter ignored"
    NO_CHANGE_TIME = "row without a change time"
    NO_TOTAL = "no total to check the window against"
    ROWS_UNACCOUNTED = "rows left the window unread"


class Action(StrEnum):
    COMPLETE = "complete"
    REREAD = "reread"
    GIVE_UP = "give up"


@dataclass(frozen=True)
class Row:
    """What the rules need of one row: its id and its change time (None when the server gave none)."""

    id: str
    changed_at: datetime | None


@dataclass(frozen=True)
class KeysetStep:
    """Where a keyset walk goes after one page: `trusted` False means switch the list to `pages`."""

    trusted: bool
    reason: Signal | None = None
    since: datetime | None = None
    # True when the whole page shares one change time: the next request asks for the next page number of
    # `lastModified >= since` instead of the first.
    same_since: bool = False
    done: bool = False
    # The least count the next request's filter should report.
    expected: int | None = None


@dataclass(frozen=True)
class Verdict:
    action: Action
    infer_deletions: bool
    reason: str = ""


def keyset_step(
    since: datetime | None,
    rows: list[Row],
    *,
    served: int,
    limit: int,
    total: int | None,
    expected: int | None,
) -> KeysetStep:
    """Judge one keyset page and say what is next.

    `rows`: the readable rows of `lastModified >= since`, in the order served; `served`: how many items the page
    held, readable or not; `total`: the server's count for this filter; `expected`: the least count the step
    before predicted (rows of the previous filter minus those it passed). A count below the prediction means
    rows vanished from the window without being read: a server that only looks ordered by change time (rows in
    creation order, a recent edit last on the page), or deletions mid-walk; either way page numbers take over.
    Known limit: on a list in creation order whose page happens to end with a row edited during the walk, an
    addition arriving at the same moment can balance the count of the rows passed over; a list ordered by change
    time (as Maesn's is) cannot be misread that way.
    """
    if total is None:
        return KeysetStep(trusted=False, reason=Signal.NO_TOTAL)
    if expected is not None and total < expected:
        return KeysetStep(trusted=False, reason=Signal.ROWS_UNACCOUNTED)
    if any(row.changed_at is None for row in rows) or (served and not rows):
        return KeysetStep(trusted=False, reason=Signal.NO_CHANGE_TIME)
    known = [row.changed_at for row in rows if row.changed_at is not None]
    if since is not None and any(stamp < since for stamp in known):
        return KeysetStep(trusted=False, reason=Signal.FILTER_IGNORED)
    if any(later < earlier for earlier, later in pairwise(known)):
        return KeysetStep(trusted=False, reason=Signal.OUT_OF_ORDER)
    if served < limit:
        return KeysetStep(trusted=True, since=since, done=True)
    newest = max(known)
    # A page of one change time says nothing about where that time ends: the next page of the same `since`.
    same = all(stamp == newest for stamp in known)
    passed = sum(1 for stamp in known if stamp < newest)
    return KeysetStep(trusted=True, since=newest, same_since=same, expected=total if same else total - passed)


def group_to_reread(rows: list[Row], groups: dict[datetime, tuple[datetime, datetime | None]]) -> datetime | None:
    """The change time of a tie group that must be read again, if any.

    A group of rows sharing one change time (an import) can only be read by page number within that time, and a
    row of it edited or deleted while it was read pulls the rows behind it up one place, so one may be passed
    over; an addition at the same moment keeps the count from showing it. Any change made while the group was
    read (`groups`: its change time -> when its reading began and ended, None while it goes on) shows as a row
    stamped inside that span, sooner or later in the walk: the group is then read again.
    """
    for row in rows:
        if row.changed_at is None:
            continue
        for group, (began, ended) in groups.items():
            if row.changed_at != group and began <= row.changed_at and (ended is None or row.changed_at <= ended):
                return group
    return None


def page_signals(
    rows: list[Row],
    *,
    seen: set[str],
    first_total: int | None,
    total: int | None,
    started: datetime | None,
) -> set[Signal]:
    """Drift evidence on one page of a page-number pass: rows read before in this pass, a total unlike the
    pass's first, or a row whose change time is at or after the walk's start."""
    signals: set[Signal] = set()
    if first_total is not None and total is not None and total != first_total:
        signals.add(Signal.TOTAL_CHANGED)
    if any(row.id in seen for row in rows):
        signals.add(Signal.SEEN_BEFORE)
    if started is not None and any(row.changed_at is not None and row.changed_at >= started for row in rows):
        signals.add(Signal.CHANGED_DURING_WALK)
    return signals


def changed_during(rows: list[Row], started: datetime | None) -> bool:
    """Whether any row was changed at or after the walk's start (a keyset walk's evidence of a live platform)."""
    return started is not None and any(row.changed_at is not None and row.changed_at >= started for row in rows)


def pass_verdict(mode: Mode, signals: set[Signal], *, changed: bool, passes: int, max_passes: int) -> Verdict:
    """The end of one pass over a list. `signals` are this pass's drift evidence, `changed` whether the walk saw
    the platform change at all (in any pass or mode), `passes` how many passes this list has had, this one
    included.

    - keyset: rows cannot have been skipped, so the list is complete; deletions only if nothing changed.
    - pages, no drift: complete; deletions only if nothing changed in any pass.
    - pages, drift: read again while passes remain, else give up (the run ends with the reason, the watermark
      stays, the next run starts over).
    """
    if mode is Mode.KEYSET:
        return Verdict(Action.COMPLETE, infer_deletions=not changed)
    if not signals:
        return Verdict(Action.COMPLETE, infer_deletions=not changed)
    reason = ", ".join(sorted(signals))
    if passes < max_passes:
        return Verdict(Action.REREAD, infer_deletions=False, reason=reason)
    return Verdict(
        Action.GIVE_UP,
        infer_deletions=False,
        reason=f"the list kept changing under the walk ({reason}) through {passes} passes",
    )
