"""Helpers shared by the dialect modules: timestamps, raw JSON bodies, and contract-breaking payloads.

A broken record may ask for bytes that are not UTF-8. JSON cannot carry those, so a string equal to
`INVALID_UTF8` in a broken payload is replaced by raw invalid bytes after encoding: the only way to hand a
client the byte sequence a misbehaving platform would.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from contactsync import jsontext

INVALID_UTF8 = "__invalid_utf8__"
_MARKER = json.dumps(INVALID_UTF8).encode()


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a Z, as the unified APIs write their clocks."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def raw_json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = jsontext.dumps_bytes(payload)
    if _MARKER in body:
        body = body.replace(_MARKER, b'"\xff\xfe broken \xc3"')
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.lower() in ("1", "true", "yes")
