"""Per-record contract checks shared by the dialect mappings, so one bad record never sinks its page.

A record is refused before mapping when any of its strings is not valid UTF-8 or is absurdly long: both are
reported with the field's path, which is what someone fixing the data at the platform needs to know.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from contactsync.contact import CanonicalContact
from contactsync.providers.base import QuarantinedRecord
from contactsync.providers.errors import RecordError

# Far above any field a platform allows, far below what would hurt memory or the database.
MAX_STRING = 100_000
_EXCERPT = 300


def check_strings(value: Any, remote_id: str | None, path: str = "") -> None:
    """Refuse strings that are not UTF-8 (they arrive as lone surrogates) or longer than `MAX_STRING`."""
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise RecordError(
                f"{path or 'value'} is {len(value):,} characters long (limit {MAX_STRING:,})",
                remote_id=remote_id,
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RecordError(f"{path or 'value'} is not valid UTF-8", remote_id=remote_id) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_strings(item, remote_id, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_strings(item, remote_id, f"{path}[{index}]")


def excerpt(value: Any) -> str:
    """A short, printable rendering of a bad record for the quarantine table."""
    try:
        text = json.dumps(value, ensure_ascii=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def quarantined(record: Any, error: RecordError) -> QuarantinedRecord:
    return QuarantinedRecord(reason=error.reason, remote_id=error.remote_id, excerpt=excerpt(record))


def text(record: dict[str, Any], key: str, remote_id: str, *, required: bool = False) -> str | None:
    value = record.get(key)
    if value is None or (value == "" and not required):
        if required:
            raise RecordError(f"{key} is missing", remote_id=remote_id)
        return None
    if not isinstance(value, str):
        raise RecordError(f"{key} should be a string, got {type(value).__name__}", remote_id=remote_id)
    if required and not value.strip():
        raise RecordError(f"{key} is empty", remote_id=remote_id)
    return value


def boolean(record: dict[str, Any], key: str, remote_id: str) -> bool:
    value = record.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RecordError(f"{key} should be true or false, got {value!r}", remote_id=remote_id)
    return value


def items(record: dict[str, Any], key: str, remote_id: str) -> list[dict[str, Any]]:
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RecordError(f"{key} should be a list of objects", remote_id=remote_id)
    return value


def timestamp(record: dict[str, Any], key: str, remote_id: str, *, required: bool = False) -> datetime | None:
    value = text(record, key, remote_id, required=required)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"{key} is not an ISO 8601 time: {value[:40]!r}", remote_id=remote_id) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build(fields: dict[str, Any], remote_id: str) -> CanonicalContact:
    """Validate mapped fields into a contact; pydantic's complaint becomes one readable line."""
    try:
        return CanonicalContact.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_input=False)
        )
        raise RecordError(problems, remote_id=remote_id) from None
