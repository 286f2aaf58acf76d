"""What a walk of the platform may conclude: when creates may be sent, and when a mirrored contact that a walk
did not return counts as deleted.

Both rules guard the promise "never a duplicate, never a lost change" against the one thing a walk cannot show:
what it did not see. Not seeing a contact proves nothing unless the walk was complete, covered everything and
saw a still platform.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


def creates_allowed(last_full_walk_at: datetime | None) -> bool:
    """Creates wait for the connection's first complete full walk: until every platform contact was seen once,
    an app contact without a link may have a counterpart that simply was not fetched yet, and creating it would
    put a duplicate in the customer's books."""
    return last_full_walk_at is not None


def infers_deletions(option: Any, *, dialect_flags_deletions: bool) -> bool:
    """Whether contacts missing from a complete full walk are read as deleted: by default (`option` None) only
    where the platform marks no deletions itself; the connection's `infer_deletions` option decides otherwise."""
    return not dialect_flags_deletions if option is None else bool(option)


class Deletions(StrEnum):
    """Which mirrored contacts a finished walk marks deleted."""

    NONE = "none"  # an incremental walk, or a platform that flags deletions itself
    UNSEEN = "unseen"  # every contact the complete full walk of a still platform did not return
    CONFIRMED = "confirmed"  # only absentees the platform, asked one by one, answers "not found" for


def deletions_after_walk(*, full_walk: bool, infers: bool, platform_was_still: bool) -> Deletions:
    """A walk that saw the platform change under it may have missed rows (a page shifted while it was read), so
    its absentees are asked for by id; a walk of a still platform saw everything."""
    if not full_walk or not infers:
        return Deletions.NONE
    return Deletions.UNSEEN if platform_was_still else Deletions.CONFIRMED


def unseen_judged_from(walk_started_at: datetime, visibility_lag: timedelta) -> datetime:
    """Our own creates first seen at or after this time are not judged by the walk: the platform may not list
    them yet (its visibility lag), and marking them deleted would send them again."""
    return walk_started_at - visibility_lag


def walk_shows_our_create(created_at: datetime, walk_started_at: datetime | None, visibility_lag: timedelta) -> bool:
    """Whether the walk a plan rests on could show a contact our create made at `created_at`, with whatever the
    platform's users did to it since.

    A platform lists a contact it created for us only after its visibility lag, and an edit made on the platform
    meanwhile is listed with it, not before. An update planned from a walk that began sooner rests on our own
    create's answer, not on the platform: sent, it would overwrite that edit unseen (the app's change is older,
    or the two are a conflict the walk could not show). Such updates wait for a walk that began after the lag."""
    return walk_started_at is not None and walk_started_at >= created_at + visibility_lag
