"""Blocking keys persisted beside each app contact (first cut: exact keys only)."""

from __future__ import annotations

from contactsync.matching.record import MatchRecord


def _squash(value: str) -> str:
    return "".join(ch for ch in value.casefold() if ch.isalnum())


def blocking_keys(record: MatchRecord) -> frozenset[str]:
    keys: set[str] = set()
    if record.tax_number and _squash(record.tax_number):
        keys.add("tax:" + _squash(record.tax_number))
    if record.email and record.email.strip():
        keys.add("email:" + record.email.strip().casefold())
    if record.name and _squash(record.name):
        keys.add("name:" + _squash(record.name))
    return frozenset(keys)
