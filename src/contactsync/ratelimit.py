"""Rate-limit buckets shared by every worker, one per connection, kept in Redis by the `limits` library.

The platforms limit per tenant (Xero 60/min, QuickBooks 500/min, Merge 100-600/min per linked account), and a
tenant's calls come from fetch and write tasks on several processes, so a bucket must live outside any one
process. A moving window never lets a burst at a window boundary exceed the limit, which is what the platforms
enforce. Waiting is done here (short sleeps) rather than by failing the call: a 429 from the platform costs more.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from limits import RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from contactsync.redis_keys import rate_limit_bucket, rate_limit_prefix
from contactsync.settings import get_settings

DEFAULT_PER_MINUTE = {"merge": 100, "maesn": 60}


@functools.lru_cache(maxsize=4)
def _limiter(redis_url: str, prefix: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(RedisStorage(redis_url, key_prefix=rate_limit_prefix(prefix)))


def bucket_throttle(
    connection_id: int,
    per_minute: int,
    on_call: Callable[[], None] | None = None,
    max_wait_seconds: float = 120.0,
) -> Callable[[], None]:
    """A callable that blocks until the connection's shared bucket admits one more request."""
    settings = get_settings()
    limiter = _limiter(settings.require_redis_url(), settings.redis_prefix)
    item = RateLimitItemPerMinute(per_minute)
    bucket = rate_limit_bucket(connection_id)

    def throttle() -> None:
        deadline = time.monotonic() + max_wait_seconds
        while not limiter.hit(item, bucket):
            stats = limiter.get_window_stats(item, bucket)
            pause = min(max(stats.reset_time - time.time(), 0.01), 1.0)
            if time.monotonic() + pause > deadline:
                raise TimeoutError(f"rate-limit bucket of connection {connection_id} stayed full")
            time.sleep(pause)
        if on_call is not None:
            on_call()

    return throttle
