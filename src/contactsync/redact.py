"""Keeping a connection's secrets out of stored errors and logs.

Platforms and gateways sometimes repeat the request in their error text (debug pages that echo headers, proxies
that quote the URL), so anything a provider said may hold the API key or account token we sent. Every such text
passes through `redact` with the connection's secrets before it is stored in `sync_runs.error`,
`write_ops.last_error` or logged. Each secret is also searched in the spellings it may come back in (URL- and
JSON-escaped).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
# Shorter values are not secrets worth the false hits (a test's "k" would mask every k in a message).
MIN_SECRET_LENGTH = 6


def _spellings(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        for spelling in sorted(_spellings(secret), key=len, reverse=True):
            text = text.replace(spelling, MASK)
    return text


def redact_details(details: Any, secrets: Iterable[str | None]) -> Any:
    """A provider error's details (JSON-like) with every string redacted."""
    keep = list(secrets)
    if isinstance(details, str):
        return redact(details, keep)
    if isinstance(details, list):
        return [redact_details(item, keep) for item in details]
    if isinstance(details, dict):
        return {redact(str(k), keep): redact_details(v, keep) for k, v in details.items()}
    return details
