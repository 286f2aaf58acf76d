"""Deciding what to write where, for one linked pair: plain functions over plain data.

Each side's content hash at the last sync is kept on the link. Comparing it with the current hashes tells which
side changed since; only a side that changed can overwrite the other. When both changed (or the pair was just
linked and never synced), fields are merged one by one: a blank never overwrites a value, and where both hold
different values the side whose own clock says it changed later wins — unless the tenant's connection sets
`conflict_policy` to "app" or "platform", for businesses where one side is the master. Every such field is a
counted conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contactsync.contact import SYNCED_FIELDS


@dataclass(frozen=True)
class PairState:
    app_content: dict[str, Any]
    app_hash: str
    app_updated_at: datetime | None
    remote_content: dict[str, Any]
    remote_hash: str
    remote_updated_at: datetime | None
    app_synced_hash: str | None
    remote_synced_hash: str | None
    remote_deleted: bool = False
    # newer | app | platform: who wins a field both sides changed to different values.
    conflict_policy: str = "newer"


@dataclass(frozen=True)
class PairPlan:
    """Field values to write to each side; empty dicts mean nothing to write there."""

    to_remote: dict[str, Any] = field(default_factory=dict)
    to_app: dict[str, Any] = field(default_factory=dict)
    conflicts: tuple[str, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not self.to_remote and not self.to_app


def is_blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == ()


def plan_pair(state: PairState) -> PairPlan:
    app_changed = state.app_synced_hash != state.app_hash
    remote_changed = state.remote_synced_hash != state.remote_hash
    if not app_changed and not remote_changed:
        return PairPlan()
    differing = [name for name in SYNCED_FIELDS if state.app_content.get(name) != state.remote_content.get(name)]
    to_remote: dict[str, Any] = {}
    to_app: dict[str, Any] = {}
    conflicts: list[str] = []
    for name in differing:
        app_value = state.app_content.get(name)
        remote_value = state.remote_content.get(name)
        if app_changed and not remote_changed:
            to_remote[name] = app_value
        elif (remote_changed and not app_changed) or is_blank(app_value):
            to_app[name] = remote_value
        elif is_blank(remote_value):
            to_remote[name] = app_value
        else:
            conflicts.append(name)
            if _platform_wins(state):
                to_app[name] = remote_value
            else:
                to_remote[name] = app_value
    if state.remote_deleted:
        # A contact deleted on the platform is never written to again; the app still learns the last values.
        to_remote = {}
    return PairPlan(to_remote=to_remote, to_app=to_app, conflicts=tuple(conflicts))


def _platform_wins(state: PairState) -> bool:
    if state.conflict_policy in ("app", "platform"):
        return state.conflict_policy == "platform"
    if state.remote_updated_at is None:
        return False
    if state.app_updated_at is None:
        return True
    return state.remote_updated_at > state.app_updated_at


def apply_changes(content: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(content)
    merged.update(changes)
    return merged
