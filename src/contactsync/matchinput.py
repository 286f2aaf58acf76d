"""Turning canonical contact content into the matcher's plain records (the input of `matching/`)."""

from __future__ import annotations

from typing import Any

from contactsync.matching import MatchRecord


def _first(items: Any) -> Any:
    return items[0] if isinstance(items, list | tuple) and items else None


def match_record(record_id: str, content: dict[str, Any]) -> MatchRecord:
    address = _first(content.get("addresses")) or {}
    phone = _first(content.get("phones")) or {}
    return MatchRecord(
        id=record_id,
        name=content.get("name"),
        email=_first(content.get("emails")),
        tax_number=content.get("tax_number"),
        phone=phone.get("number") if isinstance(phone, dict) else None,
        street=address.get("street_1"),
        city=address.get("city"),
        postal_code=address.get("postal_code"),
        country=address.get("country"),
    )
