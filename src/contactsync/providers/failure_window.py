"""Failed requests to a unified API's host, counted across every worker, so that one tenant's bad data does not get
the whole fleet blocked.

Merge blocks every request from an IP address that sent it more than 20 failed requests (an answer of 400 or
more, 429 aside) within a rolling 10 seconds. The rest of the code never retries a permanent failure
(`providers.errors`), but first attempts fail too: a tenant whose creates the platform refuses (QuickBooks
rejects a display name it already has, error 6240) sends a write group of them at once, group after group, and
tenants resuming walks on expired cursors each get a 400. Twenty such answers in a few seconds, and every tenant
of the deployment is locked out, not just the one with the bad data.

So each answer of 400 or more (429 aside) to such a host is noted in a sorted set shared by all workers, and
while the set holds `CONTACTSYNC_FAILED_REQUEST_BUDGET` notes of the last window (half the host's limit by
default), requests to that host wait until the oldest note leaves the window. The budget leaves the other half
for requests already on the wire when it is reached. Deployments behind one egress address share the key; a
deployment with several addresses is only held back more than it needs to be.

Written here rather than with `limits`: its moving-window limiter counts requests as they are admitted, and what
is counted here is known only once the answer is in.
"""

from __future__ import annotations

import functools
import time
import uuid
from urllib.parse import urlsplit

import redis

from contactsync import metrics
from contactsync.logs import get_logger
from contactsync.providers.errors import RateLimited
from contactsync.providers.http import Answered, Throttle, then
from contactsync.redis_keys import failed_requests_key
from contactsync.settings import get_settings

log = get_logger(__name__)

# KEYS: the host's failures (sorted set: note -> when it was noted, in ms). ARGV: the window (ms), the budget.
# Returns how many ms until a request may go (0: now).
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local held = redis.call('ZCARD', KEYS[1])
local budget = tonumber(ARGV[2])
if held < budget then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], held - budget, held - budget, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""

# KEYS: the host's failures. ARGV: the window (ms), the note's name.
_NOTE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return 0
"""


@functools.lru_cache(maxsize=4)
def _scripts(redis_url: str) -> tuple[redis.commands.core.Script, redis.commands.core.Script]:
    client = redis.Redis.from_url(redis_url)
    return client.register_script(_ADMIT), client.register_script(_NOTE)


def failed(status: int | None) -> bool:
    """An answer the unified API counts as a failed request: 400 or more, but for a 429."""
    return status is not None and status >= 400 and status != 429


def wait_seconds(host: str, budget: int, window_seconds: float) -> float:
    """How long a request to `host` must wait for the failures of the window to fall under the budget (0: none)."""
    settings = get_settings()
    key = failed_requests_key(settings.redis_prefix, host)
    waited = _scripts(settings.require_redis_url())[0](keys=[key], args=[int(window_seconds * 1000), budget])
    return int(waited) / 1000


def note_failure(host: str, window_seconds: float) -> None:
    settings = get_settings()
    key = failed_requests_key(settings.redis_prefix, host)
    try:
        _scripts(settings.require_redis_url())[1](keys=[key], args=[int(window_seconds * 1000), uuid.uuid4().hex])
    except redis.RedisError as exc:  # the answer is in and must be dealt with: a lost note only weakens the guard
        log.warning("a failed request could not be noted", host=host, error=str(exc))


def guarded(
    throttle: Throttle, host: str, budget: int, window_seconds: float, max_wait_seconds: float = 120.0
) -> Throttle:
    """`throttle` (the connection's bucket, and cap) behind the host's failure window: a request waits while the
    window holds `budget` failures, before it takes a place or a slot; its answer, if a failure, is noted."""

    def throttled() -> Answered | None:
        deadline = time.monotonic() + max_wait_seconds
        while (wait := wait_seconds(host, budget, window_seconds)) > 0:
            if time.monotonic() + wait > deadline:
                raise RateLimited(
                    f"{host} answered {budget} failed requests within {window_seconds:.0f} s; waiting so that it "
                    "does not block this address",
                    retry_after=wait,
                    status=None,
                )
            time.sleep(wait)
            metrics.count_wait("failures", wait)
        return then(throttle(), lambda status: note_failure(host, window_seconds) if failed(status) else None)

    return throttled


def host_of(base_url: str) -> str:
    """The key part a base URL's failures are counted under: its host and port."""
    parts = urlsplit(base_url)
    return f"{parts.hostname or ''}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
