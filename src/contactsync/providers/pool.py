"""Providers kept per worker process and connection, each behind its connection's shared rate-limit bucket (and
concurrency cap, where the connection has one) and with its requests counted where they are sent.

Building a provider costs more than a typical API call, and a kept client also keeps its connections alive
between tasks. The key holds everything a provider is built from (the caller's fingerprint of the connection), so
a re-connected tenant (new credentials, URL or options) gets a new one.

A process keeps the providers of the `CONTACTSYNC_PROVIDER_POOL_SIZE` connections it used last and closes the
one it used longest ago beyond that. A worker serves every tenant of its queue shards, hundreds in a big fleet:
unbounded, each of them would keep a client and its idle sockets (httpcore closes an expired keep-alive
connection only when its pool is next used, so a tenant synced every 15 minutes holds one all along).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import httpx

from contactsync.providers.base import ConnectionConfig, Provider
from contactsync.providers.concurrency import capped
from contactsync.providers.failure_window import guarded, host_of
from contactsync.providers.ratelimit import bucket_throttle
from contactsync.providers.registry import dialect_of, open_provider, options_of
from contactsync.settings import get_settings


class CallMeter:
    """Counts the requests a provider's client sends. It is the client's httpx request event hook, so every
    request that goes on the wire (a followed redirect too) is counted where it is sent, which is also what the
    platform counts against the tenant's budget."""

    def __init__(self) -> None:
        self._sent = 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> None:
        with self._lock:
            self._sent += 1

    def take(self) -> int:
        """The requests sent since the last `take`."""
        with self._lock:
            sent, self._sent = self._sent, 0
            return sent


class Leased(NamedTuple):
    provider: Provider
    calls: CallMeter


class _Pooled(NamedTuple):
    fingerprint: str
    provider: Provider
    calls: CallMeter


_pool: OrderedDict[int, _Pooled] = OrderedDict()  # least recently leased first


def lease(connection_id: int, fingerprint: str, config: Callable[[], ConnectionConfig]) -> Leased:
    """The connection's provider with its call meter, emptied: what the meter counts from now on is the caller's
    (a worker process runs one task at a time, as Celery's prefork pool does). `config` is only called when a
    provider has to be built: it decrypts the credentials and checks the URL."""
    pooled = _pool.get(connection_id)
    if pooled is None or pooled.fingerprint != fingerprint:
        if pooled is not None:
            _pool.pop(connection_id).provider.close()
        opened = config()
        per_minute = requests_per_minute(opened.dialect, opened.options)
        throttle = bucket_throttle(connection_id, per_minute)
        cap = options_of(opened.dialect, opened.options).max_concurrent_requests
        if cap is not None:
            throttle = capped(throttle, connection_id, cap)
        block, budget = dialect_of(opened.dialect).failure_block, get_settings().failed_request_budget
        if block is not None and budget:
            throttle = guarded(throttle, host_of(opened.base_url), min(budget, block[0]), block[1])
        calls = CallMeter()
        provider = open_provider(opened, throttle=throttle, on_request=calls)
        pooled = _pool[connection_id] = _Pooled(fingerprint, provider, calls)
        _evict(keep=get_settings().provider_pool_size)
    _pool.move_to_end(connection_id)
    pooled.calls.take()  # requests of an earlier task that ended without counting them are not this one's
    return Leased(pooled.provider, pooled.calls)


def requests_per_minute(dialect: str, options: dict[str, Any]) -> int:
    """A connection's request budget: its `rate_limit_per_minute` option, else its dialect's."""
    return options_of(dialect, options).rate_limit_per_minute or dialect_of(dialect).requests_per_minute


def _evict(keep: int) -> None:
    """Close the least recently leased providers beyond `keep`. A process runs one task at a time, and a task
    leases the connections it uses as it goes, so the provider a task holds is never the one closed here."""
    while len(_pool) > keep:
        _connection_id, pooled = _pool.popitem(last=False)
        pooled.provider.close()


def forget() -> None:
    """After a fork: the parent's clients (and their sockets) are not this process's to use or close."""
    _pool.clear()
