"""Limits on what one provider request may cost a worker: a total deadline, and a cap on the body's size.

httpx's timeouts bound each socket operation, not the request: a server that sends one byte a second never trips
a 30 s read timeout and holds the worker for as long as it likes. httpx has no total timeout, so it is enforced
one layer down, in the network backend httpcore accepts: every connect, read and write is given no more than
what is left of the request's deadline (a `ContextVar`, set around the request by `deadline`). That bounds the
headers as well as the body, which a check between body chunks would not.

Bodies are read streamed, counting decoded bytes (so a small gzip bomb counts at its real size), and the read
stops as soon as the cap is passed: a tenant whose platform answers 600 MB fails its own run instead of growing
the worker until the kernel kills it with every other tenant's task.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import time
import typing
import urllib.request
from collections.abc import Iterator
from contextvars import ContextVar

import httpcore
import httpx

from contactsync.validation import is_forbidden_address

_deadline: ContextVar[float | None] = ContextVar("contactsync_http_deadline", default=None)
# Headers that described the body as it came over the wire, not the decoded bytes kept in memory.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class ForbiddenAddress(Exception):
    """The host resolved to a link-local or cloud-metadata address, which the connection does not allow."""


class BodyTooLarge(Exception):
    """The answer passed the size cap; `size` is what was read (or announced) when reading stopped."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"more than {limit} bytes")
        self.size = size
        self.limit = limit


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every network operation inside the block ends by `seconds` from now; yields the monotonic deadline."""
    at = time.monotonic() + seconds
    token = _deadline.set(at)
    try:
        yield at
    finally:
        _deadline.reset(token)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """The operation's timeout cut to what is left of the request's deadline (raising once nothing is)."""
    at = _deadline.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the request's total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Also where a host name is checked once resolved: a name pointing at 169.254.169.254 is refused like the
    literal address (the base URL's own check sees only the name)."""

    def __init__(self, allow_link_local: bool) -> None:
        self._inner = httpcore.SyncBackend()
        self._allow_link_local = allow_link_local

    def _check(self, host: str, port: int) -> None:
        if self._allow_link_local:
            return
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return  # the connect below reports the name that does not resolve
        for info in infos:
            address = str(info[4][0]).split("%")[0]
            if is_forbidden_address(address):
                raise ForbiddenAddress(f"{host} resolves to {address}, a link-local or cloud-metadata address")

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        self._check(host, port)
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Iterable[typing.Any] | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once a process: building one loads the CA bundle (tens of milliseconds),
    and every provider a worker opens built two. A context is safe to share between connections and threads."""
    return httpx.create_ssl_context()


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport, its connection pool built with the deadline-aware network backend.

    httpx does not take a network backend, so the pool it built is replaced by one with the same settings
    (httpcore's public constructors). An explicit transport makes httpx ignore proxy variables, so the proxy the
    environment names for the base URL (HTTPS_PROXY, NO_PROXY...) is applied here, as httpx would have.
    """

    def __init__(self, limits: httpx.Limits, *, base_url: str = "", allow_link_local: bool = False) -> None:
        super().__init__(limits=limits, verify=_ssl_context())
        common: dict[str, typing.Any] = {
            "ssl_context": _ssl_context(),
            "max_connections": limits.max_connections,
            "max_keepalive_connections": limits.max_keepalive_connections,
            "keepalive_expiry": limits.keepalive_expiry,
            "network_backend": _DeadlineBackend(allow_link_local),
        }
        proxy = _proxy_for(base_url)
        if proxy is None:
            self._pool = httpcore.ConnectionPool(**common)
        else:
            self._pool = httpcore.HTTPProxy(
                proxy_url=httpcore.URL(
                    scheme=proxy.url.raw_scheme, host=proxy.url.raw_host, port=proxy.url.port, target=proxy.url.raw_path
                ),
                proxy_auth=proxy.raw_auth,
                proxy_headers=proxy.headers.raw,
                proxy_ssl_context=proxy.ssl_context,
                **common,
            )


def _proxy_for(base_url: str) -> httpx.Proxy | None:
    """The http(s) proxy the environment sets for `base_url`, if any (urllib's reading of the variables)."""
    if not base_url:
        return None
    url = httpx.URL(base_url)
    if urllib.request.proxy_bypass(url.host):
        return None
    found = urllib.request.getproxies().get(url.scheme)
    if not found or not found.startswith(("http://", "https://")):
        return None
    return httpx.Proxy(found)


def read_bounded(response: httpx.Response, limit: int) -> httpx.Response:
    """The streamed `response` read into memory, or `BodyTooLarge` as soon as it passes `limit` decoded bytes.

    Returns a new, fully read response with the same status, headers (less those describing the wire encoding)
    and request, so callers use `.content` as usual.
    """
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit and "content-encoding" not in response.headers:
        raise BodyTooLarge(int(announced), limit)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size, limit)
        chunks.append(chunk)
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=b"".join(chunks),
        request=response.request,
        extensions=response.extensions,
    )
