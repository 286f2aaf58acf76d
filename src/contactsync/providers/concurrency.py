"""How many requests of one connection are on the wire at once, across every worker: a semaphore in Redis.

Platforms limit concurrency per tenant apart from the per-minute budget (Xero 5 requests at once, QuickBooks
Online 10, a NetSuite account its own number) and answer one request too many with a 429 ("concurrent" in
Xero's `X-Rate-Limit-Problem`) or, NetSuite, a 400. A tenant's requests come from several worker processes, each
sending a write group's requests side by side (`CONTACTSYNC_WRITE_CONCURRENCY`) while a walk fetches its next
page ahead, so the cap must live outside any one process, like the rate-limit bucket (`providers.ratelimit`).
Without it, such a platform refuses a share of every group and the 429's cool-down stalls the tenant's work.

A hold is a member of a sorted set scored with the time it lapses. It is a short lease that its process renews
while the request is on the wire (a thread of the process renews all of them every few seconds), and is removed
when the answer comes: a worker killed mid-request stops renewing, and its places come free within the lease
(`LEASE_SECONDS`), rather than after the longest a request may take, which would hold a capped connection still
for minutes after a crash. After a Redis restart the holds are gone: for as long as requests then in flight
take, the cap may be passed once, which the platform's 429 and our cool-down absorb.

Written here rather than with a library: `limits` and redis-py's `Lock` have no counted semaphore whose holds
lapse one by one; this is a short script and a renewing thread.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import uuid

import redis

from contactsync import metrics
from contactsync.logs import get_logger
from contactsync.providers.errors import RateLimited
from contactsync.providers.http import Answered, Throttle, then
from contactsync.redis_keys import concurrency_key
from contactsync.settings import get_settings

log = get_logger(__name__)
# A request takes tens to hundreds of milliseconds: a waiting request asks again soon, then less often, so that
# the threads of a connection capped low against a slow platform do not keep Redis busy asking.
_FIRST_POLL_SECONDS, _LONGEST_POLL_SECONDS = 0.01, 0.1

# KEYS: the connection's holds (sorted set: holder -> when the hold lapses). ARGV: the cap, how long a hold may
# last, the holder. Returns 1 when held, 0 when the cap is reached. The key's TTL (a connection no longer used
# leaves no key behind) is only ever lengthened: a shorter hold must not take the longer ones with it.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
local ttl = math.ceil(tonumber(ARGV[2]) * 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
"""


LEASE_SECONDS = 15.0  # a hold lapses this long after its process last renewed it
RENEW_SECONDS = 5.0  # how often a process renews its holds

# KEYS: the connection's holds. ARGV: the lease, then holders whose requests are still on the wire. Only holds
# that exist are renewed: one that lapsed (its process stalled past the lease) is not taken back behind the cap.
_RENEW = """
local t = redis.call('TIME')
local until_ = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', until_, ARGV[i]) end
local ttl = math.ceil(tonumber(ARGV[1]) * 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 0
"""


@functools.lru_cache(maxsize=4)
def _scripts(redis_url: str) -> tuple[redis.commands.core.Script, redis.commands.core.Script]:
    client = redis.Redis.from_url(redis_url)
    return client.register_script(_HOLD), client.register_script(_RENEW)


class _Renewer:
    """This process's holds and the daemon thread that renews them. A forked child (Celery's prefork pool)
    starts over: the parent's holds and thread are not its own. Each hold is renewed where it was taken (the
    Redis and key of its taking), whatever the settings say by then."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holds: dict[str, tuple[str, str]] = {}  # holder -> (Redis URL, key)
        self.pid = 0

    def keep(self, holder: str, redis_url: str, key: str) -> None:
        with self.lock:
            if self.pid != os.getpid():
                self.pid, self.holds = os.getpid(), {}
                threading.Thread(target=self._run, name="concurrency-leases", daemon=True).start()
            self.holds[holder] = (redis_url, key)

    def drop(self, holder: str) -> None:
        with self.lock:
            self.holds.pop(holder, None)

    def _run(self) -> None:
        pid = os.getpid()
        while self.pid == pid:
            time.sleep(RENEW_SECONDS)
            with self.lock:
                grouped: dict[tuple[str, str], list[str]] = {}
                for holder, where in self.holds.items():
                    grouped.setdefault(where, []).append(holder)
            for (redis_url, key), holders in grouped.items():
                try:
                    _scripts(redis_url)[1](keys=[key], args=[LEASE_SECONDS, *holders])
                except Exception:  # the thread must outlive any failure, or every hold of the process lapses
                    log.warning("could not renew concurrency holds; they lapse unless renewed next time",
                                holds=len(holders), exc_info=True)  # fmt: skip


_renewer = _Renewer()


def hold(connection_id: int, limit: int, seconds: float | None = None) -> str | None:
    """Take one of the connection's `limit` places if one is free; the holder's name to `release`, else None. The
    place is a `LEASE_SECONDS` lease this process renews until released; with `seconds`, a lease of that length
    that it does not renew (a hold whose process stopped: how a lapse is tried)."""
    settings = get_settings()
    holder = uuid.uuid4().hex
    redis_url = settings.require_redis_url()
    key = concurrency_key(settings.redis_prefix, connection_id)
    taken = _scripts(redis_url)[0](keys=[key], args=[limit, LEASE_SECONDS if seconds is None else seconds, holder])
    if not int(taken):
        return None
    if seconds is None:
        _renewer.keep(holder, redis_url, key)
    return holder


def release(connection_id: int, holder: str) -> None:
    """Best effort: a hold not released (Redis unreachable) is no longer renewed and lapses within its lease."""
    _renewer.drop(holder)
    settings = get_settings()
    try:
        _scripts(settings.require_redis_url())[0].registered_client.zrem(
            concurrency_key(settings.redis_prefix, connection_id), holder
        )
    except redis.RedisError:
        log.warning("could not release a concurrency hold; it lapses on its own", connection_id=connection_id,
                    exc_info=True)  # fmt: skip


def in_flight(connection_id: int) -> int:
    """The connection's live holds (lapsed ones not counted)."""
    settings = get_settings()
    client = _scripts(settings.require_redis_url())[0].registered_client
    return int(client.zcount(concurrency_key(settings.redis_prefix, connection_id), time.time(), "+inf"))


def capped(throttle: Throttle, connection_id: int, limit: int, max_wait_seconds: float = 120.0) -> Throttle:
    """`throttle` (the rate-limit bucket) behind the connection's concurrency cap: each request first waits for
    one of `limit` places, then for its rate-limit slot; what it returns releases both once the request is
    answered or given up on. The place is taken first, so the slot is taken only when the request can go."""

    def throttled() -> Answered | None:
        deadline = time.monotonic() + max_wait_seconds
        pause = _FIRST_POLL_SECONDS
        while (holder := hold(connection_id, limit)) is None:
            if time.monotonic() + pause > deadline:
                # Hand the wait to the task queue instead of holding a worker slot, as the bucket does.
                raise RateLimited(
                    f"connection {connection_id} has {limit} requests in progress", retry_after=1.0, status=None
                )
            time.sleep(pause)
            metrics.count_wait("concurrency", pause)
            pause = min(pause * 1.5, _LONGEST_POLL_SECONDS)
        try:
            answered = throttle()
        except BaseException:
            release(connection_id, holder)
            raise
        return then(answered, lambda _status: release(connection_id, holder))

    return throttled
