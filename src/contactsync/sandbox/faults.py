"""How a sandbox account misbehaves: the faults real platforms show (errors, lags, ignored parameters, stalls),
each switched on per account so a test or benchmark can meet them on purpose.

`sandbox.gate` injects the per-request ones for both dialects alike; the account's books (`sandbox.state`) apply
the ones that change what the platform stores or shows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass
class Faults:
    """Per-account misbehaviour. Rates are probabilities per request; defaults are a well-behaved platform."""

    error_rate: float = 0.0
    latency_ms: int = 0
    reset_rate: float = 0.0
    # 429 with `Retry-After: 1` at this rate, whatever the limit: the platform's own load shedding, or other apps
    # spending the tenant's budget; turned on for a few seconds it is a burst of 429s.
    throttle_rate: float = 0.0
    drop_after_commit_rate: float = 0.0
    # Backdate each change's provider timestamp by up to this much, as a late commit or skewed node would.
    clock_skew_ms: int = 0
    # A contact created through the API shows in list and search results only this long after the create, then
    # stamped with that later `modified_at` (a unified API stores what it created on its next sync; platforms'
    # search indexes lag). Reading it by id works at once.
    visibility_lag_ms: int = 0
    # List filters (`name`, `email_address`) ignored: the whole list comes back, as from a platform that does
    # not support them.
    ignore_filters: bool = False
    # The time filters of a walk (Merge's `modified_after` and `modified_before`, Maesn's `lastModified`) ignored:
    # every walk, incremental ones too, returns the whole list, as from a platform that cannot filter by change time.
    ignore_time_filters: bool = False
    # List filters (`name`, `email_address`) refused with a 400, as by a platform that rejects what it does not know.
    refuse_filters: bool = False
    # A write committed, then answered 503 (a gateway that timed out waiting for the platform).
    error_after_commit_rate: float = 0.0
    # Writes after this many (counted since the account was made) hang until the fault is lifted (-1: never), as
    # on a platform whose write path stalls; it holds requests in flight at a chosen point of a batch.
    stall_writes_after: int = -1
    # Synced fields the platform keeps for itself: a create through the API stores their defaults and an update
    # leaves them as they are, whatever was sent (Xero's customer and supplier flags follow its invoices and
    # bills; its API cannot set them). The account's own edits (admin API) still change them.
    ignored_on_write: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, base: Faults | None = None) -> Faults:
        current = base or cls()
        if not data:
            return current
        unknown = set(data) - set(current.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        return replace(current, **data)
