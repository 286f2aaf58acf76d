"""Every Redis key and queue name contactsync uses, in one place, so the whole keyspace can be read here.

All keys start with the configured prefix (`CONTACTSYNC_REDIS_PREFIX`), which is how several deployments (or
tests) share one Redis without seeing each other. Celery's own keys get the same prefix through kombu's
`global_keyprefix` transport option.
"""

from __future__ import annotations

import hashlib

CONTROL_QUEUE = "contactsync.control"


def celery_keyprefix(prefix: str) -> str:
    return f"{prefix}:celery:"


def tenant_queue(tenant_id: str, shards: int) -> str:
    """The queue a tenant's tasks go to. A stable hash pins each tenant to one shard, so one worker (the one
    consuming that shard) handles a tenant at a time while tenants spread evenly across workers.

    BLAKE2b, not CRC-32: CRC is linear, so ids that differ only in their last characters (`t0`..`t3`,
    `tenant-17`, `tenant-19`) share their low bits and landed on one shard of two while the other worker sat
    idle. Tasks are safe on any worker (every tenant-wide step takes its own lock), so the queues that a
    changed mapping leaves behind during a deploy are simply worked off."""
    digest = hashlib.blake2b(tenant_id.encode(), digest_size=8).digest()
    return f"contactsync.tenant.{int.from_bytes(digest, 'big') % shards}"


def shard_queues(shards: int) -> list[str]:
    return [f"contactsync.tenant.{i}" for i in range(shards)]


def rate_limit_slots(prefix: str, connection_id: int) -> str:
    """The connection's rate-limit bucket, shared by every worker: a sorted set of the slots taken in the last
    window, each scored with the latest time its request may have reached the platform (`providers.ratelimit`)."""
    return f"{prefix}:ratelimit:connection:{connection_id}"


def rate_limit_sequence(prefix: str, connection_id: int) -> str:
    """The counter that names the connection's rate-limit slots."""
    return f"{prefix}:ratelimit:sequence:{connection_id}"


def cooldown_key(prefix: str, connection_id: int) -> str:
    """Set (with a TTL) after a 429: while it exists, no worker sends this connection's requests."""
    return f"{prefix}:cooldown:connection:{connection_id}"


def concurrency_key(prefix: str, connection_id: int) -> str:
    """The connection's requests on the wire, across every worker: a sorted set of holders, each scored with when
    its hold lapses (`providers.concurrency`)."""
    return f"{prefix}:concurrency:connection:{connection_id}"


def failed_requests_key(prefix: str, host: str) -> str:
    """The failed requests (400 or more, 429 aside) a unified API's host answered in the last window, across every
    worker and connection: a sorted set of notes scored with when each was noted (`providers.failure_window`)."""
    return f"{prefix}:failed:host:{host}"


def booked_key(prefix: str, connection_id: int) -> str:
    """Until when (epoch seconds, with a TTL) write batches handed back have booked the connection's bucket."""
    return f"{prefix}:booked:connection:{connection_id}"


def failure_streak_key(prefix: str, run_id: int) -> str:
    """When a run's current streak of failures began, and how far the run had got then (see `tasks.failures`)."""
    return f"{prefix}:failing:run:{run_id}"


def webhook_seen_key(prefix: str, delivery_digest: str) -> str:
    """Set (with a TTL) once a signed webhook delivery was acted on, so a replay of it within the window is not."""
    return f"{prefix}:webhook:seen:{delivery_digest}"
