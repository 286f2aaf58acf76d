"""The worker's broker transport: an ack on a channel closed by a broker outage is a logged connection error.

With kombu's own Redis transport that ack raises AttributeError, which Celery treats as unrecoverable: the worker
process exits (seen when Redis restarts while tasks run; see `contactsync.worker.broker`). Real Redis, real kombu
channels; the channel is closed the way the consumer closes it when the broker goes away.
"""

from __future__ import annotations

import logging

import pytest
import redis
from kombu import Connection, Exchange, Queue
from redis.exceptions import ConnectionError as RedisConnectionError

from contactsync.worker.app import app
from contactsync.worker.broker import TRANSPORT_PATH, transport_for


def _close_as_on_broker_loss(channel: object) -> None:
    """Close the channel as the consumer does when Redis went away: the channel gives up its connection, and its
    connection pool is dropped (closing with Redis unreachable leaves none behind)."""
    channel.close()  # type: ignore[attr-defined]
    channel._disconnect_pools()  # type: ignore[attr-defined]


def _delivered_message(conn: Connection, prefix: str) -> tuple[object, object]:
    exchange = Exchange(f"{prefix}-x", type="direct")
    queue = Queue(f"{prefix}-q", exchange, routing_key=f"{prefix}-q")
    with conn.Producer() as producer:
        producer.publish({"n": 1}, exchange=exchange, routing_key=f"{prefix}-q", declare=[queue])
    channel = conn.channel()
    message = queue(channel).get(no_ack=False)
    assert message is not None and message.payload == {"n": 1}
    return channel, message


def test_ack_on_closed_channel_is_a_connection_error_and_the_message_stays_unacked(env: dict[str, str]) -> None:
    prefix = env["CONTACTSYNC_REDIS_PREFIX"]
    options = {"global_keyprefix": f"{prefix}:"}
    with Connection(env["REDIS_URL"], transport=TRANSPORT_PATH, transport_options=options) as conn:
        channel, message = _delivered_message(conn, prefix)
        _close_as_on_broker_loss(channel)
        with pytest.raises(RedisConnectionError):
            message.ack()  # type: ignore[attr-defined]
        # Celery's own ack path catches the transport's connection errors and logs them; it must not raise.
        message.ack_log_error(logging.getLogger("test"), conn.connection_errors)  # type: ignore[attr-defined]
    # Not lost: closing the channel put it back on its queue, where the next consumer finds it.
    with Connection(env["REDIS_URL"], transport=TRANSPORT_PATH, transport_options=options) as conn:
        again = Queue(f"{prefix}-q", Exchange(f"{prefix}-x", type="direct"), routing_key=f"{prefix}-q")
        redelivered = again(conn.channel()).get(no_ack=True)
        assert redelivered is not None and redelivered.payload == {"n": 1}


@pytest.mark.parametrize("transport", [TRANSPORT_PATH, None], ids=["ours", "kombus"])
def test_closing_a_connection_whose_client_the_clean_up_took(env: dict[str, str], transport: str | None) -> None:
    """The second way (found by the soak: workers exiting with "'NoneType' object has no attribute 'hostname'"
    after Redis restarts, in `Connection.release` and in a reject on the event loop's close). The consumer's
    clean-up of a broken connection ends with `_do_close_transport`, which takes the transport's client; when
    closing the default channel had been cut short by the outage, the channel is closed again by the release, and
    putting its unacked message back needs a client. Ours raises the connection error kombu and Celery expect
    there; kombu's raises the AttributeError that ends a worker."""
    prefix = env["CONTACTSYNC_REDIS_PREFIX"]
    options = {"global_keyprefix": f"{prefix}:"}
    conn = Connection(env["REDIS_URL"], transport=transport, transport_options=options)
    exchange = Exchange(f"{prefix}-x", type="direct")
    queue = Queue(f"{prefix}-q", exchange, routing_key=f"{prefix}-q")
    with conn.Producer() as producer:
        producer.publish({"n": 1}, exchange=exchange, routing_key=f"{prefix}-q", declare=[queue])
    message = queue(conn.default_channel).get(no_ack=False)
    assert message is not None
    conn._do_close_transport()  # type: ignore[attr-defined]  # the end of the clean-up, its channel close cut short
    if transport is None:
        with pytest.raises(AttributeError):
            conn.release()
        return
    conn.release()  # the channel's close cannot restore its message: a connection error, ignored by the release
    message.reject_log_error(logging.getLogger("test"), conn.connection_errors)  # type: ignore[attr-defined]
    # Not lost: still in the transport's unacked set, restored after the visibility timeout.
    assert redis.Redis.from_url(env["REDIS_URL"]).hlen(f"{prefix}:unacked") == 1


def test_kombus_own_transport_still_has_the_fault_this_guards_against(env: dict[str, str]) -> None:
    """If this starts failing, kombu fixed it upstream and `worker/broker.py` can go."""
    prefix = env["CONTACTSYNC_REDIS_PREFIX"]
    options = {"global_keyprefix": f"{prefix}:"}
    with Connection(env["REDIS_URL"], transport_options=options) as conn:
        channel, message = _delivered_message(conn, prefix)
        _close_as_on_broker_loss(channel)
        with pytest.raises(AttributeError):
            message.ack()  # type: ignore[attr-defined]


def test_the_worker_app_uses_it_for_redis_urls_only() -> None:
    assert app.conf.broker_transport == TRANSPORT_PATH
    assert transport_for("rediss://cache.internal:6380/0") == TRANSPORT_PATH
    assert transport_for("sentinel://a:26379;sentinel://b:26379") is None
    assert transport_for("amqp://guest@localhost//") is None


def test_the_reminder_of_a_setting_already_chosen_is_silenced_and_other_warnings_are_not() -> None:
    """Celery's text itself (what a worker would log at each reconnect), so a changed wording fails here."""
    import warnings

    from celery.exceptions import CPendingDeprecationWarning
    from celery.worker.consumer.consumer import CANCEL_TASKS_BY_DEFAULT

    from contactsync.worker.app import quiet_settled_reminders

    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is False  # the choice is made
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_settled_reminders()
        warnings.warn(CANCEL_TASKS_BY_DEFAULT, CPendingDeprecationWarning, stacklevel=1)
        warnings.warn("some other coming change", CPendingDeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["some other coming change"]
