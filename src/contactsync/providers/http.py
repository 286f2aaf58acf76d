"""The one HTTP path every dialect call takes: throttle, send, and turn failures into `errors` types.

Tasks decide retry, pause or fail by exception class alone, so everything about the wire is settled here:
which statuses are transient, how long a 429 asks us to wait (Retry-After in seconds or as a date, Xero's
`X-Rate-Limit-Problem`, `X-RateLimit-Reset`, else the dialect's default), and what a body that is not UTF-8 or
not JSON means. Provider messages are kept in `details` so a permanent failure can be shown to a human as the
platform worded it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from contactsync import __version__
from contactsync.providers.base import ConnectionConfig
from contactsync.providers.errors import AuthLost, NotFound, Permanent, RateLimited, Transient

USER_AGENT = f"contactsync/{__version__}"

# Statuses that say "not now" rather than "never"; 408 and 425 are the client-side flavours of a timeout.
_TRANSIENT_4XX = frozenset({408, 425})
# Xero names the limit it hit; how long each one takes to free up.
_XERO_PROBLEM_WAIT = {"minute": 60.0, "appminute": 60.0, "concurrent": 1.0, "day": 3600.0}
# NetSuite answers its concurrency limit with a 400 carrying this code instead of a 429.
_NETSUITE_LIMIT = "SSS_REQUEST_LIMIT_EXCEEDED"


def build_client(
    config: ConnectionConfig, headers: Mapping[str, str], transport: httpx.BaseTransport | None
) -> httpx.Client:
    """One pooled client per connection, with every timeout explicit so no call can hang a worker."""
    seconds = config.timeout_seconds
    return httpx.Client(
        base_url=config.base_url.rstrip("/"),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **headers},
        timeout=httpx.Timeout(connect=min(10.0, seconds), read=seconds, write=seconds, pool=seconds),
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=30.0),
        transport=transport,
    )


def retry_after_seconds(headers: Mapping[str, str], default: float, *, now: float | None = None) -> float:
    """How long a 429 asks us to wait, from whichever header the platform used; `default` if none."""
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError, IndexError):
                pass
    problem = (headers.get("x-rate-limit-problem") or "").strip().lower()
    if problem in _XERO_PROBLEM_WAIT:
        return _XERO_PROBLEM_WAIT[problem]
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            number = float(reset)
        except ValueError:
            pass
        else:
            # Some APIs send seconds to wait, others the epoch second of the reset; size tells them apart.
            return max(0.0, number - now) if number > 1e9 else max(0.0, number)
    return default


def decode_json(content: bytes) -> Any:
    """Parse a body whose bytes may not all be UTF-8; bad bytes survive as lone surrogates for quarantine."""
    return json.loads(content.decode("utf-8", errors="surrogateescape"))


def _details(response: httpx.Response) -> Any:
    try:
        return decode_json(response.content)
    except ValueError:
        return response.content[:2000].decode("utf-8", errors="replace")


class HttpCaller:
    """Sends requests for one provider instance and raises typed errors for everything but success."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        throttle: Callable[[], None] | None,
        default_retry_after: float,
        label: str,
    ) -> None:
        self.client = client
        self._throttle = throttle
        self._default_retry_after = default_retry_after
        self._label = label

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        if self._throttle is not None:
            self._throttle()
        try:
            response = self.client.request(method, path, params=params, json=json_body, headers=headers)
        except httpx.TimeoutException as exc:
            raise Transient(f"{self._label}: {method} {path} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Transient(f"{self._label}: {method} {path} failed on the wire: {exc}") from exc
        self._raise_for(method, path, response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return decode_json(response.content)
        except ValueError as exc:
            raise Transient(f"{self._label}: {method} {path} answered with a body that is not JSON") from exc

    def _raise_for(self, method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        what = f"{self._label}: {method} {path} answered {status}"
        details = _details(response)
        if status == 429 or (status == 400 and _NETSUITE_LIMIT in response.text):
            wait = retry_after_seconds(response.headers, self._default_retry_after)
            raise RateLimited(f"{what}; retry in {wait:.0f} s", retry_after=wait, status=status, details=details)
        if status in (401, 403):
            raise AuthLost(f"{what}; the connection needs re-authorisation", status=status, details=details)
        if status == 404:
            raise NotFound(what, status=status, details=details)
        if status >= 500 or status in _TRANSIENT_4XX:
            raise Transient(what, status=status, details=details)
        raise Permanent(what, status=status, details=details)
