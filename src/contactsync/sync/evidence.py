"""When the absence of a create whose answer was lost is proven, so it may be sent again.

"Not found right now" proves nothing: a unified API stores what it created on its next sync, search indexes lag,
filters may be ignored, a look-up may be cut short. Absence is proven only by a walk that (1) began at least the
platform's visibility lag after the create was first sent, so the contact had time to show, (2) reached back to
before the first send (less a margin for the two clocks' skew), and (3) reached forward past the end of the lag,
and that completed without finding the echo. Anything less leaves the create parked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Walk:
    """A completed walk: when it began (our clock) and the window it covered (the provider's clock)."""

    started_at: datetime
    modified_after: datetime | None
    modified_before: datetime | None


def absence_proven(first_sent_at: datetime | None, walk: Walk, *, lag: timedelta, margin: timedelta) -> bool:
    """True when `walk` would have shown a contact created at `first_sent_at`, had it been created."""
    if first_sent_at is None:
        return True  # never sent: nothing can be on the platform
    visible_by = first_sent_at + lag
    if walk.started_at < visible_by:
        return False
    if walk.modified_after is not None and walk.modified_after > first_sent_at - margin:
        return False
    return walk.modified_before is None or walk.modified_before >= visible_by


def window_start(first_sent_at: datetime, margin: timedelta) -> datetime:
    """How far back an incremental walk must reach for a parked create sent at `first_sent_at`."""
    return first_sent_at - margin
