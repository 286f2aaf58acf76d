"""The one HTTP path every dialect call takes: throttle, send, and turn failures into `errors` types.

Tasks decide retry, pause or fail by exception class alone, so everything about the wire is settled here:
which statuses are transient, how long a 429 asks us to wait (Retry-After in seconds or as a date, Xero's
`X-Rate-Limit-Problem`, `X-RateLimit-Reset`, else the dialect's default), and what a body that is not UTF-8 or
not JSON means. Provider messages are kept in `details` so a permanent failure can be shown to a human as the
platform worded it.

Real servers add what our sandbox does not: redirects (followed only to the same host, so the credentials in
our headers never leave it), 503s that name a wait, HTML error pages from proxies and load balancers (reported
with a short excerpt, never as a JSON error escaping), gzip (httpx decodes it) and slow reads (timeouts).
A 502/503/504 with Retry-After on a read becomes `RateLimited` (status kept, so it cools down only this call,
not the whole connection); on a write it stays `Transient`, because a gateway's 503 may follow a commit and
only `Transient` makes the ledger look before it sends again.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from contactsync import __version__, jsontext, metrics
from contactsync.providers.base import ConnectionConfig
from contactsync.providers.bounded import BodyTooLarge, DeadlineTransport, ForbiddenAddress, deadline, read_bounded
from contactsync.providers.errors import AuthLost, NotFound, Permanent, ProviderError, RateLimited, Transient
from contactsync.providers.options import ConnectionOptions
from contactsync.redact import redact, redact_details

USER_AGENT = f"contactsync/{__version__}"

# Statuses that say "not now" rather than "never"; 408 and 425 are the client-side flavours of a timeout.
_TRANSIENT_4XX = frozenset({408, 425})
# Xero names the limit it hit; how long each one takes to free up.
_XERO_PROBLEM_WAIT = {"minute": 60.0, "appminute": 60.0, "concurrent": 1.0, "day": 3600.0}
# NetSuite answers its concurrency limit with a 400 carrying this code instead of a 429.
_NETSUITE_LIMIT = "SSS_REQUEST_LIMIT_EXCEEDED"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_EXCERPT = 160
# Called before each request, it waits for the connection's rate-limit bucket; what it returns (if anything) is
# called once the request is answered or given up on (`providers.ratelimit.bucket_throttle`), with the answer's
# status (None: no answer came).
Answered = Callable[[int | None], None]
Throttle = Callable[[], Answered | None]
# Client headers that carry no credential; every other one does (Authorization, X-Account-Token, X-API-KEY...).
_PLAIN_HEADERS = frozenset({"user-agent", "accept", "accept-encoding", "connection", "content-type"})


def then(answered: Answered | None, after: Answered) -> Answered:
    """A throttle's answered callback wrapped by a throttle around it: `answered` (if any), then `after` with the
    same status whatever `answered` raised (a concurrency place released, a failure noted)."""

    def done(status: int | None = None) -> None:
        try:
            if answered is not None:
                answered(status)
        finally:
            after(status)

    return done


def build_client(
    config: ConnectionConfig,
    headers: Mapping[str, str],
    transport: httpx.BaseTransport | None,
    on_request: Callable[[httpx.Request], None] | None = None,
) -> httpx.Client:
    """One pooled client per connection, with every timeout explicit so no call can hang a worker.

    `on_request` sees every request as it is sent (httpx's request event hook): how calls are counted."""
    seconds = config.timeout_seconds
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=5, keepalive_expiry=30.0)
    return httpx.Client(
        base_url=config.base_url.rstrip("/"),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **headers},
        timeout=httpx.Timeout(connect=min(10.0, seconds), read=seconds, write=seconds, pool=seconds),
        limits=limits,
        transport=transport
        or DeadlineTransport(
            limits,
            base_url=config.base_url,
            allow_link_local=bool(ConnectionOptions.loaded(config.options).allow_link_local),
        ),
        follow_redirects=False,  # followed by HttpCaller, same host only
        event_hooks={"request": [on_request]} if on_request is not None else None,
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
    """Parse a body whose bytes may not all be UTF-8; bad bytes survive as lone surrogates for quarantine.

    orjson parses a valid body (nearly all of them) at a fraction of the cost; one it refuses or might read
    otherwise (bad bytes, NaN, huge numbers) is parsed as before, so the result is the same either way."""
    return jsontext.loads(content, fallback=_lenient_loads)


def _lenient_loads(content: bytes) -> Any:
    return json.loads(content.decode("utf-8", errors="surrogateescape"))


def _details(response: httpx.Response) -> Any:
    try:
        return decode_json(response.content)
    except ValueError:
        return response.content[:2000].decode("utf-8", errors="replace")


def body_excerpt(content: bytes) -> str:
    """The start of a body that is not what we expected, tags and runs of whitespace squeezed out."""
    text = content[:4000].decode("utf-8", errors="replace")
    text = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", text)
    text = " ".join(re.sub(r"<[^>]*>", " ", text).split())
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


def _reason(details: Any) -> str | None:
    """The server's own words from the usual error shapes (`detail`, `message`, `error`, `errors[]`)."""
    if isinstance(details, str):
        return body_excerpt(details.encode()) or None
    if isinstance(details, list):
        parts = [_reason(item) for item in details[:3]]
        return "; ".join(p for p in parts if p) or None
    if not isinstance(details, dict):
        return None
    for key in ("detail", "message", "error_description", "title", "error", "errors"):
        value = details.get(key)
        if isinstance(value, str) and value:
            return value[:_EXCERPT]
        if isinstance(value, dict | list) and value:
            found = _reason(value)
            if found:
                return found
    return None


def _default_retry_after(config: ConnectionConfig) -> float:
    asked = ConnectionOptions.loaded(config.options).default_retry_after
    return 60.0 if asked is None else asked


class HttpCaller:
    """Sends requests for one provider instance and raises typed errors for everything but success."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        throttle: Throttle | None,
        default_retry_after: float,
        label: str,
        deadline_seconds: float = 120.0,
        max_response_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.client = client
        self._throttle = throttle
        self._default_retry_after = default_retry_after
        self._label = label
        self._deadline_seconds = deadline_seconds
        self._max_bytes = max_response_bytes

    @classmethod
    def for_connection(
        cls,
        config: ConnectionConfig,
        auth_headers: Mapping[str, str],
        *,
        throttle: Throttle | None,
        transport: httpx.BaseTransport | None,
        label: str,
        on_request: Callable[[httpx.Request], None] | None = None,
    ) -> HttpCaller:
        """The caller a dialect builds for one connection: its pooled client, throttle and default 429 wait."""
        return cls(
            build_client(config, auth_headers, transport, on_request),
            throttle=throttle,
            default_retry_after=_default_retry_after(config),
            label=label,
            deadline_seconds=config.deadline_seconds,
            max_response_bytes=config.max_response_bytes,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        note_answered = None
        status: int | None = None
        try:
            note_answered = self._throttle() if self._throttle is not None else None
            response = self._request(method, path, params=params, json_body=json_body, headers=headers)
            status = response.status_code
            return response
        except ProviderError as exc:
            status = exc.status
            raise self.redacted(exc) from exc.__cause__
        finally:
            if note_answered is not None:
                # The request is answered or given up on: its rate-limit slot's minute starts now, and a failure
                # counts against the host's window (`providers.failure_window`).
                note_answered(status)

    def redacted(self, exc: ProviderError) -> ProviderError:
        """The error with our credentials masked wherever the server's words repeat them (see `redact`)."""
        secrets = [v for k, v in self.client.headers.items() if k.lower() not in _PLAIN_HEADERS]
        secrets += [v.split(" ", 1)[1] for v in secrets if " " in v]  # "Bearer <key>": the key alone too
        exc.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in exc.args)
        exc.details = redact_details(exc.details, secrets)
        return exc

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        target: str | httpx.URL = path
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._send(method, path, target, params=params, json_body=json_body, headers=headers)
            if response.status_code not in _REDIRECTS or "location" not in response.headers:
                break
            target = self._redirect_target(method, path, response)
            params = None  # the Location carries its own query
            if response.status_code == 303 and method != "GET":
                method, json_body = "GET", None
        else:
            raise Transient(f"{self._label}: {method} {path} was redirected more than {_MAX_REDIRECTS} times")
        self._raise_for(method, path, response)
        return response

    def _send(
        self,
        method: str,
        path: str,
        target: str | httpx.URL,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        request = self.client.build_request(method, target, params=params, json=json_body, headers=headers)
        try:
            with deadline(self._deadline_seconds) as at:
                response = self.client.send(request, stream=True)
                try:
                    answered = read_bounded(response, self._max_bytes)
                finally:
                    response.close()
        except BodyTooLarge as exc:
            metrics.count_request(self._label, method, response.status_code)
            raise Permanent(
                f"{self._label}: {method} {path} answered more than {exc.limit} bytes; refused "
                "(CONTACTSYNC_MAX_RESPONSE_BYTES; a smaller page_size option may help)",
                status=response.status_code,
            ) from None
        except ForbiddenAddress as exc:
            raise Permanent(f"{self._label}: {method} {path} refused: {exc} (option allow_link_local)") from None
        except httpx.TimeoutException as exc:
            metrics.count_request(self._label, method, None)
            if time.monotonic() >= at - 0.05:  # a socket timeout cut to the deadline ends a hair early
                raise Transient(
                    f"{self._label}: {method} {path} did not complete within {self._deadline_seconds:.0f} s "
                    "(CONTACTSYNC_HTTP_DEADLINE_SECONDS)"
                ) from exc
            raise Transient(f"{self._label}: {method} {path} timed out ({type(exc).__name__})") from exc
        except httpx.RequestError as exc:
            # Transport failures, undecodable gzip, protocol errors: the server may answer properly next time.
            metrics.count_request(self._label, method, None)
            raise Transient(f"{self._label}: {method} {path} failed on the wire: {exc}") from exc
        metrics.count_request(self._label, method, answered.status_code)
        return answered

    def _redirect_target(self, method: str, path: str, response: httpx.Response) -> httpx.URL:
        """Where a redirect points, if it stays on our host; credentials are never sent anywhere else."""
        target = response.request.url.join(response.headers["location"])
        base = self.client.base_url
        same_host = target.host == base.host and (target.port or 0) == (base.port or 0)
        upgrade = target.host == base.host and base.scheme == "http" and target.scheme == "https"
        if not (same_host and target.scheme == base.scheme) and not upgrade:
            raise Permanent(
                f"{self._label}: {method} {path} was redirected to another host ({target.host}); "
                "check the connection's base URL",
                status=response.status_code,
            )
        return target

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return decode_json(response.content)
        except ValueError as exc:
            raise self.redacted(
                Transient(
                    f"{self._label}: {method} {path} answered {response.status_code} with a body that is not JSON: "
                    f"{body_excerpt(response.content)!r}",
                    status=response.status_code,
                )
            ) from exc

    def _raise_for(self, method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        details = _details(response)
        reason = _reason(details)
        what = f"{self._label}: {method} {path} answered {status}" + (f" ({reason})" if reason else "")
        if status == 429 or (status == 400 and _NETSUITE_LIMIT in response.text):
            wait = retry_after_seconds(response.headers, self._default_retry_after)
            metrics.count_rate_limited(self._label)
            raise RateLimited(f"{what}; retry in {wait:.0f} s", retry_after=wait, status=status, details=details)
        if status in (502, 503, 504) and response.headers.get("retry-after"):
            wait = retry_after_seconds(response.headers, self._default_retry_after)
            if method == "GET":
                raise RateLimited(f"{what}; retry in {wait:.0f} s", retry_after=wait, status=status, details=details)
            raise Transient(f"{what}; retry in {wait:.0f} s", status=status, details=details, retry_after=wait)
        if status in (401, 403):
            raise AuthLost(f"{what}; the connection needs re-authorisation", status=status, details=details)
        if status == 404:
            raise NotFound(what, status=status, details=details)
        if status >= 500 or status in _TRANSIENT_4XX:
            raise Transient(what, status=status, details=details)
        raise Permanent(what, status=status, details=details)


def body_or_none(response: httpx.Response, label: str) -> Any:
    """A write answer's JSON, or None when it has no body (204, or servers that answer 200 with nothing)."""
    if not response.content.strip():
        return None
    try:
        return decode_json(response.content)
    except ValueError as exc:
        raise Transient(
            f"{label}: {response.request.method} answered {response.status_code} with a body that is not JSON: "
            f"{body_excerpt(response.content)!r}",
            status=response.status_code,
        ) from exc


def page_json(response: httpx.Response, label: str) -> Any:
    """A list page's JSON; a page that is not JSON (a gateway's error page answered 200) is `Transient`."""
    try:
        return decode_json(response.content)
    except ValueError as exc:
        raise Transient(
            f"{label}: a contacts page was not JSON: {body_excerpt(response.content)!r}", status=response.status_code
        ) from exc
