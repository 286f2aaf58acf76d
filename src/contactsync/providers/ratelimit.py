"""Rate-limit buckets shared by every worker, one per connection, kept in Redis by the `limits` library.

The platforms limit per tenant (Xero 60/min, QuickBooks 500/min, Merge 100-600/min per linked account), and a
tenant's calls come from fetch and write tasks on several processes, so a bucket must live outside any one
process. A moving window never lets a burst at a window boundary exceed the limit, which is what the platforms
enforce. Waiting is done here (short sleeps) rather than by failing the call: a 429 from the platform costs more.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import redis
from limits import RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from contactsync import metrics
from contactsync.providers.errors import RateLimited
from contactsync.redis_keys import booked_key, cooldown_key, rate_limit_bucket, rate_limit_prefix
from contactsync.settings import get_settings

WINDOW_MARGIN_SECONDS = 2


@functools.lru_cache(maxsize=4)
def _limiter(redis_url: str, prefix: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(RedisStorage(redis_url, key_prefix=rate_limit_prefix(prefix)))


@functools.lru_cache(maxsize=4)
def _redis(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def note_rate_limited(connection_id: int, retry_after: float) -> None:
    """The platform said 429: every worker holds back this connection's requests until `retry_after` passes.

    Our bucket only approximates the platform's budget (other apps may share it, limits change by plan), so a
    429 is the platform's word and overrides the bucket for all workers, not just the one that received it.
    """
    settings = get_settings()
    millis = max(1, int(retry_after * 1000))
    _redis(settings.require_redis_url()).set(cooldown_key(settings.redis_prefix, connection_id), b"1", px=millis)


def _item(per_minute: int) -> RateLimitItemPerSecond:
    # The platform counts arrivals, we count departures; with latency jitter a request we send just as our window
    # frees a slot can still land inside the platform's. Our window is a little longer than the platform's minute.
    return RateLimitItemPerSecond(per_minute, 60 + WINDOW_MARGIN_SECONDS)


@dataclass(frozen=True)
class BucketState:
    """What the connection's bucket admits now, read without taking a slot."""

    wait: float  # seconds until it admits one more request (0: now)
    room: int  # requests it admits now without waiting (0 while it is empty or cooling down after a 429)


def bucket_state(connection_id: int, per_minute: int) -> BucketState:
    """The connection's bucket as it stands, without taking a slot (what `reserve` may take)."""
    settings = get_settings()
    client = _redis(settings.require_redis_url())
    left_ms = int(client.pttl(cooldown_key(settings.redis_prefix, connection_id)))
    if left_ms > 0:
        return BucketState(wait=left_ms / 1000, room=0)
    stats = _limiter(settings.require_redis_url(), settings.redis_prefix).get_window_stats(
        _item(per_minute), rate_limit_bucket(connection_id)
    )
    if stats.remaining > 0:
        return BucketState(wait=0.0, room=stats.remaining)
    return BucketState(wait=max(stats.reset_time - time.time(), 0.0), room=0)


# Set while a request whose slot its caller took beforehand (`reserve`) goes out: its throttle takes none.
_PREPAID: ContextVar[bool] = ContextVar("contactsync_prepaid_slot", default=False)


def reserve(connection_id: int, per_minute: int, wanted: int) -> BucketState:
    """Take up to `wanted` slots of the connection's bucket at once; `room` is how many were taken (0: none, and
    `wait` says how long until one frees).

    A write batch takes its group's slots before it marks the group `in_flight` and sends it (each request then
    runs under `prepaid_slot`). Reading the room and taking it one request at a time lets two batches of a tenant
    count the same room: both mark full groups, and the requests beyond it wait for slots, up to a whole window,
    each holding a worker process that other tenants' queues need. Taken together, slots are all or nothing: a
    batch that lost the race reads the room again and takes what is left."""
    settings = get_settings()
    limiter = _limiter(settings.require_redis_url(), settings.redis_prefix)
    for _attempt in range(3):
        state = bucket_state(connection_id, per_minute)
        if not state.room:
            return state
        taking = min(wanted, state.room)
        if limiter.hit(_item(per_minute), rate_limit_bucket(connection_id), cost=taking):
            return BucketState(wait=0.0, room=taking)
    return BucketState(wait=0.05, room=0)  # three races lost in a row: the caller asks again a moment later


@contextmanager
def prepaid_slot() -> Iterator[None]:
    """The next request in this context spends a slot `reserve` took (a 429's cooldown is still waited out)."""
    token = _PREPAID.set(True)
    try:
        yield
    finally:
        _PREPAID.reset(token)


# KEYS[1]: the connection's booking; ARGV: the earliest start, the seconds booked, now (epoch seconds).
_BOOK = """
local booked = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tonumber(ARGV[1]), booked)
local stop = start + tonumber(ARGV[2])
redis.call('SET', KEYS[1], tostring(stop), 'PX', math.ceil((stop - tonumber(ARGV[3])) * 1000) + 60000)
return tostring(start)
"""


def book_later(connection_id: int, per_minute: int, requests: int, earliest: float) -> float:
    """When (epoch seconds, not before `earliest`) `requests` handed-back requests of the connection may start.

    Batches handed back while the bucket is empty would otherwise all come back when it frees, most of them to be
    handed back again, holding the tenant's queue in a loop of hand-backs. Each books its place instead: the
    connection's bookings follow one another at the bucket's long-run pace, so they come back about when the
    bucket can admit them. Booked time is a promise to no one: a request still takes its slot from the bucket."""
    settings = get_settings()
    client = _redis(settings.require_redis_url())
    cost = requests * (60 + WINDOW_MARGIN_SECONDS) / max(1, per_minute)
    key = booked_key(settings.redis_prefix, connection_id)
    start = client.eval(_BOOK, 1, key, repr(earliest), repr(cost), repr(time.time()))
    return float(start)


def bucket_throttle(connection_id: int, per_minute: int, max_wait_seconds: float = 120.0) -> Callable[[], None]:
    """A callable that blocks until the connection's shared bucket admits one more request."""
    settings = get_settings()
    limiter = _limiter(settings.require_redis_url(), settings.redis_prefix)
    client = _redis(settings.require_redis_url())
    item = _item(per_minute)
    bucket = rate_limit_bucket(connection_id)
    cooldown = cooldown_key(settings.redis_prefix, connection_id)

    def throttle() -> None:
        deadline = time.monotonic() + max_wait_seconds
        prepaid = _PREPAID.get()
        if prepaid:
            _PREPAID.set(False)  # one request: a second one of the same call (a read-back) takes its own slot
        while True:
            left_ms = int(client.pttl(cooldown))
            reason = "cooldown"
            if left_ms > 0:
                pause = left_ms / 1000
            elif prepaid or limiter.hit(item, bucket):
                break
            else:
                stats = limiter.get_window_stats(item, bucket)
                pause = min(max(stats.reset_time - time.time(), 0.01), 1.0)
                reason = "bucket"
            if time.monotonic() + pause > deadline:
                # Hand the wait to the task queue instead of holding a worker slot for minutes.
                raise RateLimited(f"connection {connection_id} is rate limited", retry_after=pause, status=None)
            time.sleep(min(pause, 1.0))
            metrics.count_wait(reason, min(pause, 1.0))

    return throttle
