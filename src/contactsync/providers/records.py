"""Per-record contract checks shared by the dialect mappings, so one bad record never sinks its page.

A record is refused before mapping when any of its strings is not valid UTF-8, holds a NUL character or is
absurdly long: each is reported with the field's path, which is what someone fixing the data at the platform
needs to know. PostgreSQL's text and JSONB cannot hold NUL at all, so such a record, taken in, would fail its
whole page's transaction on every retry instead of being set aside.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from contactsync import __version__, jsontext
from contactsync.contact import CanonicalContact
from contactsync.providers.base import RefusedRecord
from contactsync.providers.errors import RecordError

# Far above any field a platform allows, far below what would hurt memory or the database.
MAX_STRING = 100_000
# The stored length of a platform's id (the mirror's and the quarantine's `remote_id` columns).
MAX_ID = 255
_EXCERPT = 300
# What a raw digest stands for besides the record: the mapping that turned it into the mirrored row. Raise the
# revision with any change to a dialect's mapping (a release changes the version anyway), so that rows mapped by
# older code are mapped again rather than taken as they are.
_MAPPING_REVISION = 2
_DIGEST_KEY = f"contactsync {__version__} mapping {_MAPPING_REVISION}".encode()


def raw_digest(record: Any) -> str | None:
    """A digest of a platform record as sent (key order aside) and of the mapping code, or None for a record it
    cannot be taken of (one that is not JSON-able as text: such a record is refused by the mapping anyway).

    A mirrored row keeps the digest of the record it was mapped from; a walk that finds a record with the same
    digest knows the row already holds what mapping it would give, and does not map it again. The mapping must
    then depend on the record alone (Merge's does); a dialect whose mapping depends on where a record was listed
    must not skip by digest."""
    try:
        text = jsontext.sorted_bytes(record)
    except (TypeError, ValueError):
        return None
    return hashlib.blake2b(text, digest_size=16, key=_DIGEST_KEY[:64]).hexdigest()


def checked_id(raw_id: str) -> str:
    """A platform id the store can hold; one that it cannot refuses its record (without naming it as the id)."""
    if "\x00" in raw_id:
        raise RecordError("id contains a NUL character")
    if len(raw_id) > MAX_ID:
        raise RecordError(f"id is {len(raw_id):,} characters long (limit {MAX_ID})")
    return raw_id


def check_strings(value: Any, remote_id: str | None, path: str = "") -> None:
    """Refuse strings that are not UTF-8 (they arrive as lone surrogates), hold NUL or are longer than
    `MAX_STRING`, as values and as object keys.

    Nearly every record passes, so the fast check gathers the record's strings (values and keys) in one walk
    without recursion and tests them together: the longest against the limit, and their concatenation for NUL and
    for UTF-8 (a concatenation holds a lone surrogate exactly when one of its parts does). The record is walked
    again with each value's path only to name what is wrong."""
    if not _clean(value):
        _check_with_paths(value, remote_id, path)


def _clean(value: Any) -> bool:
    strings: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict):
            strings.extend(k for k in item if isinstance(k, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    if not strings:
        return True
    if max(map(len, strings)) > MAX_STRING:
        return False
    joined = "".join(strings)
    if "\x00" in joined:
        return False
    if joined.isascii():
        return True
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _string_problem(value: str) -> str | None:
    """What is wrong with one string (None: nothing), in words that follow the field's path."""
    if "\x00" in value:
        return "contains a NUL character"
    if len(value) > MAX_STRING:
        return f"is {len(value):,} characters long (limit {MAX_STRING:,})"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid UTF-8"
    return None


def _check_with_paths(value: Any, remote_id: str | None, path: str = "") -> None:
    if isinstance(value, str):
        problem = _string_problem(value)
        if problem is not None:
            raise RecordError(f"{path or 'value'} {problem}", remote_id=remote_id)
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str):
                _check_with_paths(key, remote_id, f"a key in {path or 'the record'}")
            _check_with_paths(item, remote_id, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_with_paths(item, remote_id, f"{path}[{index}]")


def excerpt(value: Any) -> str:
    """A short, printable rendering of a bad record for the quarantine table."""
    try:
        text = json.dumps(value, ensure_ascii=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def quarantined(record: Any, error: RecordError) -> RefusedRecord:
    return RefusedRecord(reason=error.reason, remote_id=error.remote_id, excerpt=excerpt(record))


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


_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n", ""})


def boolean(record: dict[str, Any], key: str, remote_id: str) -> bool:
    """A flag; "true"/"false" strings and 0/1 are read too, since some connectors serialise every value."""
    value = record.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise RecordError(f"{key} should be true or false, got {value!r}", remote_id=remote_id)


def items(record: dict[str, Any], key: str, remote_id: str) -> list[dict[str, Any]]:
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RecordError(f"{key} should be a list of objects", remote_id=remote_id)
    return value


def parse_time(value: Any) -> datetime | None:
    """A point in time as servers write it, or None if it is not one.

    ISO 8601 with or without fractional seconds (any number of digits: .NET writes seven), with `Z`, `+hh:mm`,
    `+hhmm` or no offset (read as UTC), with `T` or a space; or epoch seconds / milliseconds as a number, which
    Java-based connectors send. The magnitude tells seconds from milliseconds (ms exceed 1e11 after 1973).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000.0 if abs(value) > 1e11 else float(value)
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    cleaned = value.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    match = _FRACTION.search(cleaned)
    if match and len(match.group(1)) > 6:
        cleaned = cleaned[: match.start(1)] + match.group(1)[:6] + cleaned[match.end(1) :]
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_FRACTION = re.compile(r"T?\d{2}:\d{2}:\d{2}\.(\d+)")


def timestamp(record: dict[str, Any], key: str, remote_id: str, *, required: bool = False) -> datetime | None:
    value = record.get(key)
    if value is None or value == "":
        if required:
            raise RecordError(f"{key} is missing", remote_id=remote_id)
        return None
    parsed = parse_time(value)
    if parsed is None:
        raise RecordError(f"{key} is not a time: {str(value)[:40]!r}", remote_id=remote_id)
    return parsed


def first_key(record: dict[str, Any], *keys: str) -> str | None:
    """The first of `keys` the record carries with a value: servers name the same field differently."""
    for key in keys:
        if record.get(key) not in (None, ""):
            return key
    return None


def entries(record: dict[str, Any], key: str, remote_id: str) -> list[Any]:
    """A list that may hold objects or bare strings (`["a@x.de"]` as well as `[{"email": "a@x.de"}]`)."""
    value = record.get(key)
    if value is None:
        return []
    if isinstance(value, str | dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | dict) or v is None for v in value):
        raise RecordError(f"{key} should be a list of objects or strings", remote_id=remote_id)
    return [v for v in value if v is not None]


def pick(entry: Any, *keys: str) -> Any:
    """A bare string itself, or the first of `keys` an object carries with a value."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        key = first_key(entry, *keys)
        return entry[key] if key is not None else None
    return None


def enum(value: Any) -> str | None:
    """An enum value in one spelling: `Billing`, `billing`, ` BILLING ` and `billing_address` compare alike."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().upper().replace("-", "_").replace(" ", "_")


def phones(entries_: list[Any], number_keys: tuple[str, ...], type_keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Phone numbers from objects or strings; an entry without a number says nothing and is dropped."""
    out = []
    for entry in entries_:
        number = pick(entry, *number_keys)
        if isinstance(number, int):
            number = str(number)
        if not isinstance(number, str) or not number.strip():
            continue
        kind = pick(entry, *type_keys) if isinstance(entry, dict) else None
        out.append({"number": number.strip(), "type": kind if isinstance(kind, str) and kind else None})
    return out


def build(fields: dict[str, Any], remote_id: str) -> CanonicalContact:
    """Validate mapped fields into a contact; pydantic's complaint becomes one readable line."""
    try:
        return CanonicalContact.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors(include_input=False)
        )
        raise RecordError(problems, remote_id=remote_id) from None


def same_text(a: str, b: str) -> bool:
    """Equal but for case and spacing: how a search answer is held to the exact name or email asked for."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
