"""JSON text for the hot paths: orjson where it gives the same values, the standard library where it does not.

A full sync decodes every JSON document it reads from PostgreSQL and encodes every batch of rows it writes; the
standard library's C codec was about a tenth of a worker's CPU in a profile of one, and orjson does the same work
in a fraction of that. orjson is stricter in a few corners (integers beyond 64 bits, NaN or Infinity in input,
lone surrogates, keys of other types than it converts), and there it raises; every function here then does what
the standard library did before, so the values a caller gets, and the errors it sees, do not change. One
difference is kept: a float NaN or infinity is encoded as null, where the standard library wrote a token that no
JSON parser, PostgreSQL included, accepts (the statement failed).

Digests that are stored (`contact.content_digest`, `sync.planning.field_digest`) hash `sorted_bytes`, which is
byte for byte the standard library's sorted, compact, non-ASCII text for what a contact's content holds: strings
(orjson escapes every code point as the standard library does, checked over all of them), booleans, None,
integers, lists and string-keyed objects. A different byte for the same value would make every stored hash
differ once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
# Digits to "0", everything else to " ": a run of 19 digits is then a plain substring search (a regular
# expression over the document cost more than the standard library's whole parse).
_DIGITS_ONLY = bytes(b"0"[0] if chr(i).isdigit() and i < 128 else b" "[0] for i in range(256))
_LONG_RUN = b"0" * 19


def loads(data: bytes | bytearray | memoryview | str, fallback: Callable[[bytes], Any] | None = None) -> Any:
    """`json.loads` of `data` (or `fallback(data)` where orjson is not sure to agree), faster for what orjson accepts.

    orjson reads an integer beyond 64 bits as a float where the standard library keeps it exact, so a document
    with a run of 19 or more digits anywhere (18 always fit) goes to the standard library unread by orjson."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if _LONG_RUN not in raw.translate(_DIGITS_ONLY):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return fallback(raw) if fallback is not None else json.loads(raw)


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """Compact JSON text of `value`. A value orjson refuses goes through `json.dumps` with the same `default`,
    which serialises it (escaped to ASCII, as before) or raises as it always did."""
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value, default=default, separators=(",", ":"))


def dumps_bytes(value: Any) -> bytes:
    """`dumps` as UTF-8 bytes, for a driver or a response body that sends bytes anyway; what orjson refuses is
    `json.dumps(value)`, the standard library's defaults, as SQLAlchemy's JSON types used."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        return json.dumps(value).encode()


# Times and dataclasses go to the caller's `default`, as in the standard library (orjson would write its own text).
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def sorted_bytes(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """`json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=default)` as UTF-8.

    Keys sort alike (UTF-8 byte order is code point order). Floats are the exception: orjson writes `1e-7`
    where the standard library writes `1e-07`, so this is for documents without them (contact content has none)."""
    try:
        return orjson.dumps(value, default=default, option=_SORTED)
    except TypeError:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=default).encode()
