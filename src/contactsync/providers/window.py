"""Incremental windows that never skip a change: pure arithmetic over the provider's clock.

The watermark is only ever a time the provider stamped (Merge's `modified_at`, Maesn's `updatedDate`), never
the worker's clock, and it only moves after a walk has committed its last page: the caller passes the walk's
`max_modified_at` to `advance_watermark` at that moment and not before. Each new window starts `lookback` before
the watermark, so changes stamped late (a slow commit, a skewed node) are fetched again; those repeats are
harmless because upserts compare content.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from contactsync.providers.base import Window

DEFAULT_LOOKBACK = timedelta(minutes=5)


def next_window(
    watermark: datetime | None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    sync_finished_at: datetime | None = None,
    *,
    include_deleted: bool = True,
) -> Window:
    """The next walk's window: everything when there is no watermark yet, else since watermark - lookback.

    `sync_finished_at` (Merge's `/sync-status` `last_sync_finished`) closes the window at the last moment the
    unified API is known to hold complete data; later changes wait for the next walk rather than be half-seen.
    """
    if lookback < timedelta(0):
        raise ValueError("lookback must not be negative")
    after = watermark - lookback if watermark is not None else None
    before = sync_finished_at
    if before is not None and after is not None and before <= after:
        # An empty range is meaningless to the API; read what is there instead. A sync still running then is
        # what the look-back exists for.
        before = None
    return Window(modified_after=after, modified_before=before, include_deleted=include_deleted)


def advance_watermark(old_watermark: datetime | None, page_max: datetime | None) -> datetime | None:
    """The watermark after a walk that completed: never backwards, and unchanged if the walk saw nothing."""
    if page_max is None:
        return old_watermark
    if old_watermark is None:
        return page_max
    return max(old_watermark, page_max)


def walk_max(seen: list[datetime | None]) -> datetime | None:
    """The largest stamp over a walk's pages, for callers that collect `Page.max_modified_at` per page."""
    stamps = [s for s in seen if s is not None]
    return max(stamps) if stamps else None
