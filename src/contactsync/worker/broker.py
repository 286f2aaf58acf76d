"""kombu's Redis transport, with one fault of it turned from a worker crash into a logged, retried acknowledgement.

When Redis goes away, the consumer closes its channel (kombu sets the channel's `connection` to None) and builds a
new one. A task that was running meanwhile finishes afterwards, and with late acknowledgement its `ack` is sent on
the *old* channel: kombu then rebuilds that channel's connection pool from `self.connection.client` and fails with
`AttributeError: 'NoneType' object has no attribute 'hostname'`. Celery treats an AttributeError as unrecoverable
and the whole worker process exits (kombu 5.7.0; reported upstream as celery/kombu#582 and #970 for the same call
path). The same happens when the consumer's clean-up took the connection's client while a channel's close was
cut short by the outage: that channel's next close (`Connection.release`) or a reject of its message fails the
same way. Without a supervisor restarting it, every tenant on the worker's shard then stops.

The message of a closed channel cannot be acknowledged any more; what is right is what Celery already does for a
broker connection error during an ack: log it and carry on. The message stays in Redis's unacked set and is
restored after the visibility timeout, and running a task again is safe because every task is idempotent. So a
closed channel raises the Redis client's own `ConnectionError` (one of the transport's connection errors, which
`Message.ack_log_error` catches) instead of the AttributeError.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

#: The import path Celery's `broker_transport` setting takes (used for redis:// and rediss:// broker URLs).
TRANSPORT_PATH = "contactsync.worker.broker:Transport"


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        # The channel gave up its transport (closed), or the transport lost its client: the consumer's clean-up
        # of a broken connection (`Connection.collect`, then `close`) takes the client away even when closing
        # a channel was cut short by the outage, and that channel's next close, ack or reject lands here.
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("the broker channel was closed with its connection; the message stays unacked")
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]  # untyped in kombu
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel


def transport_for(broker_url: str) -> str | None:
    """The transport for `broker_url`: ours for plain Redis URLs, kombu's choice (None) for anything else."""
    scheme = broker_url.split("://", 1)[0].lower() if "://" in broker_url else ""
    return TRANSPORT_PATH if scheme in ("redis", "rediss") else None
