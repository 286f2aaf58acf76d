"""Rate-limit buckets shared by every worker, one per connection, kept in Redis.

The platforms limit per tenant (Xero 60/min, QuickBooks 500/min, Merge 100-600/min per linked account), and a
tenant's calls come from fetch and write tasks on several processes, so a bucket must live outside any one
process. It is a moving window, as the platforms enforce: no 60 seconds ever hold more than the budget. Waiting
is done here (short sleeps) or handed to the queue rather than failing the call: a 429 from the platform costs
more.

A slot is held from when it is taken until 60 s after its request's answer (or failure) came back, not 60 s
after it was taken. The platform counts a request when it arrives, which is after we send it and before we hear
back; so a slot freed 60 s after the answer can never let two arrivals fall into one of the platform's windows,
however long the request took. Counting from the take instead (what a moving-window library such as `limits`
does, which this module used before) needs a margin for the time a request takes to arrive: 2 s on the minute,
3% of every tenant's budget for good, and still short for a request that waited longer than that (a slow TLS
handshake, a saturated worker). `limits` has no way to move a slot's time once it is taken, hence the three
short Lua scripts here. A slot whose answer never comes back to be noted (a killed worker) is held for the
longest a request may take (`CONTACTSYNC_HTTP_DEADLINE_SECONDS`) before its 60 s begin.

Times are Redis's own clock (`TIME` in the scripts), so workers on hosts whose clocks disagree share one window.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import redis

from contactsync import metrics
from contactsync.logs import get_logger
from contactsync.providers.errors import RateLimited
from contactsync.providers.http import Answered, Throttle
from contactsync.redis_keys import booked_key, cooldown_key, rate_limit_sequence, rate_limit_slots
from contactsync.settings import get_settings

log = get_logger(__name__)
WINDOW_SECONDS = 60  # the platforms' per-minute window

# KEYS: the connection's slots (sorted set: slot id -> latest time its request may have arrived), its 429
# cool-down, its slot sequence. ARGV: the budget, the window, how long an unanswered request may still arrive,
# how many slots to take (0: only look).
# Returns {slots taken, room before taking, seconds until a slot frees (or the cool-down ends), last id taken,
# 1 if cooling down}. The wait counts an unanswered slot as if its answer came now: it is a hint for when to ask
# again, and asking again is what decides.
_TAKE = """
local cool = redis.call('PTTL', KEYS[2])
if cool > 0 then return {0, 0, tostring(cool / 1000), 0, 1} end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local room = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])
if room <= 0 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local since = now
  if first[2] then since = math.min(tonumber(first[2]), now) end
  return {0, 0, tostring(math.max(since + window - now, 0.001)), 0, 0}
end
local take = math.min(room, tonumber(ARGV[4]))
if take <= 0 then return {0, room, '0', 0, 0} end
local last = redis.call('INCRBY', KEYS[3], take)
local pending = now + tonumber(ARGV[3])
for id = last - take + 1, last do redis.call('ZADD', KEYS[1], pending, id) end
local ttl = math.ceil((tonumber(ARGV[3]) + window) * 1000) + 1000
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
return {take, room, '0', last, 0}
"""

# KEYS: the connection's slots. ARGV: slot ids whose requests were answered (or failed): each now counts from now,
# never later than it did (a second note of one slot changes nothing).
_ANSWERED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for _, id in ipairs(ARGV) do
  local held = redis.call('ZSCORE', KEYS[1], id)
  if held and tonumber(held) > now then redis.call('ZADD', KEYS[1], now, id) end
end
return 0
"""

# KEYS[1]: the connection's booking; ARGV: the earliest start, the seconds booked, now (epoch seconds).
_BOOK = """
local booked = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tonumber(ARGV[1]), booked)
local stop = start + tonumber(ARGV[2])
redis.call('SET', KEYS[1], tostring(stop), 'PX', math.ceil((stop - tonumber(ARGV[3])) * 1000) + 60000)
return tostring(start)
"""


@dataclass(frozen=True)
class _Scripts:
    take: redis.commands.core.Script
    answered: redis.commands.core.Script
    book: redis.commands.core.Script


@functools.lru_cache(maxsize=4)
def _redis(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@functools.lru_cache(maxsize=4)
def _scripts(redis_url: str) -> _Scripts:
    # Registered scripts run by digest and are loaded again by redis-py when a restarted Redis has lost them.
    client = _redis(redis_url)
    return _Scripts(
        take=client.register_script(_TAKE),
        answered=client.register_script(_ANSWERED),
        book=client.register_script(_BOOK),
    )


def note_rate_limited(connection_id: int, retry_after: float) -> None:
    """The platform said 429: every worker holds back this connection's requests until `retry_after` passes.

    Our bucket only approximates the platform's budget (other apps may share it, limits change by plan), so a
    429 is the platform's word and overrides the bucket for all workers, not just the one that received it.
    """
    settings = get_settings()
    millis = max(1, int(retry_after * 1000))
    _redis(settings.require_redis_url()).set(cooldown_key(settings.redis_prefix, connection_id), b"1", px=millis)


@dataclass(frozen=True)
class BucketState:
    """What the connection's bucket admits now (and, from `reserve`, the slots it took)."""

    wait: float  # seconds until it admits one more request (0: now)
    room: int  # requests it admits now without waiting (0 while it is empty or cooling down after a 429)
    slots: tuple[int, ...] = ()  # the slots taken, to be noted answered (`answered`)
    cooling: bool = False  # held back by a 429's cool-down, not by the budget


def _take(connection_id: int, per_minute: int, wanted: int) -> BucketState:
    settings = get_settings()
    prefix = settings.redis_prefix
    keys = [
        rate_limit_slots(prefix, connection_id),
        cooldown_key(prefix, connection_id),
        rate_limit_sequence(prefix, connection_id),
    ]
    args = [per_minute, WINDOW_SECONDS, settings.http_deadline_seconds, wanted]
    taken, room, wait, last, cooling = _scripts(settings.require_redis_url()).take(keys=keys, args=args)
    slots = tuple(range(int(last) - int(taken) + 1, int(last) + 1))
    if taken:
        return BucketState(wait=0.0, room=int(taken), slots=slots)
    return BucketState(wait=float(wait), room=int(room), cooling=bool(cooling))


def bucket_state(connection_id: int, per_minute: int) -> BucketState:
    """The connection's bucket as it stands, without taking a slot (what `reserve` may take)."""
    return _take(connection_id, per_minute, 0)


def answered(connection_id: int, slots: Sequence[int]) -> None:
    """The requests of `slots` were answered (or failed): their 60 s start now rather than at the longest a request
    may take. Best effort: a slot not noted (Redis unreachable) is only held longer than it needs to be."""
    if not slots:
        return
    settings = get_settings()
    try:
        _scripts(settings.require_redis_url()).answered(
            keys=[rate_limit_slots(settings.redis_prefix, connection_id)], args=list(slots)
        )
    except redis.RedisError:
        log.warning("could not note answered requests; their slots are held longer", connection_id=connection_id,
                    slots=len(slots), exc_info=True)  # fmt: skip


def reserve(connection_id: int, per_minute: int, wanted: int) -> BucketState:
    """Take up to `wanted` slots of the connection's bucket at once; `room` is how many were taken (0: none, and
    `wait` says how long until one frees), `slots` which, to note `answered` once their requests are.

    A write batch takes its group's slots before it marks the group `in_flight` and sends it (each request then
    runs under `prepaid_slot`). Reading the room and taking it one request at a time let two batches of a tenant
    count the same room: both marked full groups, and the requests beyond it waited for slots, up to a whole
    window, each holding a worker process that other tenants' queues need. Here the room is read and taken in one
    script, so two batches never count the same slot."""
    return _take(connection_id, per_minute, wanted)


# Set while a request whose slot its caller took beforehand (`reserve`) goes out: its throttle takes none.
_PREPAID: ContextVar[bool] = ContextVar("contactsync_prepaid_slot", default=False)


@contextmanager
def prepaid_slot() -> Iterator[None]:
    """The next request in this context spends a slot `reserve` took (a 429's cool-down is still waited out); the
    caller notes that slot `answered`."""
    token = _PREPAID.set(True)
    try:
        yield
    finally:
        _PREPAID.reset(token)


def book_later(connection_id: int, per_minute: int, requests: int, earliest: float) -> float:
    """When (epoch seconds, not before `earliest`) `requests` handed-back requests of the connection may start.

    Batches handed back while the bucket is empty would otherwise all come back when it frees, most of them to be
    handed back again, holding the tenant's queue in a loop of hand-backs. Each books its place instead: the
    connection's bookings follow one another at the bucket's long-run pace, so they come back about when the
    bucket can admit them. Booked time is a promise to no one: a request still takes its slot from the bucket."""
    settings = get_settings()
    cost = requests * WINDOW_SECONDS / max(1, per_minute)
    key = booked_key(settings.redis_prefix, connection_id)
    start = _scripts(settings.require_redis_url()).book(
        keys=[key], args=[repr(earliest), repr(cost), repr(time.time())]
    )
    return float(start)


def _answered_later(connection_id: int, slots: tuple[int, ...]) -> Answered:
    """What a request's answer calls: its slot's minute starts then, whatever the answer was."""

    def done(_status: int | None = None) -> None:
        answered(connection_id, slots)

    return done


def bucket_throttle(connection_id: int, per_minute: int, max_wait_seconds: float = 120.0) -> Throttle:
    """A callable that blocks until the connection's shared bucket admits one more request, and returns the
    callable to call once that request's answer (or failure) is in (`answered`); None for a prepaid request,
    whose group notes the slots it took."""

    def throttle() -> Answered | None:
        deadline = time.monotonic() + max_wait_seconds
        prepaid = _PREPAID.get()
        if prepaid:
            _PREPAID.set(False)  # one request: a second one of the same call (a read-back) takes its own slot
        while True:
            state = _take(connection_id, per_minute, 0 if prepaid else 1)
            if state.slots:
                return _answered_later(connection_id, state.slots)
            if prepaid and not state.cooling:
                return None
            reason = "cooldown" if state.cooling else "bucket"
            pause = state.wait if state.cooling else min(max(state.wait, 0.01), 1.0)
            if time.monotonic() + pause > deadline:
                # Hand the wait to the task queue instead of holding a worker slot for minutes.
                raise RateLimited(f"connection {connection_id} is rate limited", retry_after=pause, status=None)
            time.sleep(min(pause, 1.0))
            metrics.count_wait(reason, min(pause, 1.0))

    return throttle
