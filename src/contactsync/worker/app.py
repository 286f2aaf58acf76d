"""Celery application and its delivery guarantees.

Every task is idempotent, so delivery is at-least-once: `acks_late` plus `reject_on_worker_lost` put a task back
on its queue when the worker running it dies, and a prefetch of one keeps a dying worker from taking a batch of
messages down with it. The beat schedule holds one periodic task, `schedule_tick`, which finds due tenants and
re-drives runs whose worker died (see `tasks.schedule`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import structlog
from celery import Celery, Task
from celery.exceptions import CPendingDeprecationWarning
from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutting_down
from kombu import Exchange, Queue
from kombu.exceptions import OperationalError as BrokerUnreachable
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import InterfaceError, OperationalError

from contactsync.logs import configure_logging
from contactsync.redis_keys import CONTROL_QUEUE, celery_keyprefix, shard_queues
from contactsync.settings import get_settings
from contactsync.worker.broker import transport_for


def quiet_settled_reminders() -> None:
    """Celery warns at every broker reconnect that `worker_cancel_long_running_tasks_on_connection_loss` will
    default to True in Celery 6, even when it is set (as it is in `configure`): a warning in every worker's log at
    each Redis restart, for a choice already made. That one reminder is silenced; every other warning stays."""
    warnings.filterwarnings(
        "ignore",
        message=r"\s*In Celery 5\.1 we introduced an optional breaking change",
        category=CPendingDeprecationWarning,
    )


def make_app() -> Celery:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    quiet_settled_reminders()
    capp = Celery("contactsync", include=["contactsync.tasks"])
    configure(capp)
    return capp


# Celery writes the sending process's time limits into every message (its `timelimit` header), and a worker
# applies the message's limits over its own. The process that queues a task (the API, the beat, a command line) is
# often configured apart from the workers, so a worker's CONTACTSYNC_TASK_*TIME_LIMIT_SECONDS would hold only for
# the tasks the workers queue themselves. Every message is sent with these options instead (`worker.routing` and
# the beat's schedule): it carries no limits, the worker running it applies its own, and a retry keeps none.
NO_TIME_LIMITS: dict[str, Any] = {"time_limit": None, "soft_time_limit": None}


def configure(capp: Celery) -> None:
    """(Re)apply the settings to the app; called again after the CLI starts embedded servers or a test
    switches to its own Redis prefix, so already-imported task modules keep using the one app object."""
    settings = get_settings()
    broker_url = settings.redis_url or "redis://127.0.0.1:6379/0"
    capp.conf.update(
        broker_url=broker_url,
        # kombu's Redis transport with a closed channel's ack turned into a logged error (see worker/broker.py).
        broker_transport=transport_for(broker_url),
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        # A task running when the broker connection drops finishes its work; its ack then fails (logged, see
        # `worker.broker`) and the message is delivered again after the visibility timeout, which an idempotent
        # task shrugs off. Cancelling it (Celery 6's coming default) would only throw that work away: said
        # explicitly so the choice survives that default's change.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # No task may hold a worker slot without end: the soft limit raises inside the task (its run fails with
        # the reason), the hard one kills the child process (the task is redelivered, the run re-driven).
        task_soft_time_limit=settings.task_soft_time_limit_seconds,
        task_time_limit=max(settings.task_time_limit_seconds, settings.task_soft_time_limit_seconds + 1),
        worker_prefetch_multiplier=1,
        task_default_queue=CONTROL_QUEUE,
        # A plain `celery -A contactsync.worker worker` serves every queue; `-Q` narrows it to a share of them.
        # Each queue has its own direct exchange and routing key, as Celery creates for a `-Q` name it was not told.
        task_queues=[
            Queue(name, Exchange(name, type="direct"), routing_key=name)
            for name in (CONTROL_QUEUE, *shard_queues(settings.queue_shards))
        ],
        task_create_missing_queues=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "global_keyprefix": celery_keyprefix(settings.redis_prefix),
            # A task whose worker vanished without rejecting it is redelivered after this many seconds.
            "visibility_timeout": max(60, settings.stale_run_seconds),
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
        task_send_sent_event=True,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "schedule-tick": {
                "task": "contactsync.schedule_tick",
                "schedule": settings.schedule_tick_seconds,
                "options": {"queue": CONTROL_QUEUE, "expires": settings.schedule_tick_seconds * 2, **NO_TIME_LIMITS},
            }
        },
    )
    # Drop connections made with the previous broker URL (celery keeps them in private attributes).
    pool = getattr(capp, "_pool", None)
    if pool is not None:
        pool.force_close_all()
        setattr(capp, "_pool", None)  # noqa: B010
    setattr(capp.amqp, "_producer_pool", None)  # noqa: B010
    for cached in ("queues", "default_queue", "router"):  # derived from the configuration above
        capp.amqp.__dict__.pop(cached, None)


app = make_app()
celery = app

# Options every pipeline task shares: a database or broker that is restarting is waited out with backoff
# (the task is idempotent, so running it again is safe); anything else is a bug or a provider error, which the
# tasks handle themselves, and a run left behind by either is re-driven by the schedule tick.
# The database or Redis out of reach: retried by the task, never a run's failure. kombu wraps a broker it cannot
# reach (a message a task sends while Redis restarts) in its own OperationalError, not redis-py's error.
INFRA_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    BrokerUnreachable,
)

INFRA_RETRY: dict[str, Any] = {
    "autoretry_for": INFRA_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 20,
}


P = ParamSpec("P")
R = TypeVar("R")


def celery_task(name: str, **options: Any) -> Callable[[Callable[P, R]], Task[P, R]]:
    """`app.task` that keeps the function's signature on the task (the stubs' overloads lose it when options
    come as a dict), so mypy checks every `enqueue(task, ...)` (see `worker.routing`) against the task itself."""
    return cast("Callable[[Callable[P, R]], Task[P, R]]", app.task(name=name, **options))


def bound_celery_task(name: str, **options: Any) -> Callable[[Callable[Concatenate[Any, P], R]], Task[P, R]]:
    """`celery_task` for a function that takes the task itself first (to retry or read its request)."""
    return cast("Callable[[Callable[Concatenate[Any, P], R]], Task[P, R]]", app.task(name=name, bind=True, **options))


@task_prerun.connect
def _bind_log_context(task_id: str | None = None, task: Any = None, args: Any = None, **_: Any) -> None:
    """Every log line a task writes names its tenant and task, so one tenant's sync can be followed across
    workers in a log pipeline (the tenant id leads every pipeline message)."""
    structlog.contextvars.clear_contextvars()
    tenant = args[0] if args and isinstance(args[0], str) else None
    structlog.contextvars.bind_contextvars(task=getattr(task, "name", None), task_id=task_id, tenant_id=tenant)


@task_postrun.connect
def _clear_log_context(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


@worker_ready.connect
def _quiet_shutdown_notices(sender: Any = None, **_: Any) -> None:
    """In JSON mode, Celery's "worker: Warm shutdown" notice (printed to stdout, outside logging) would be the
    one line a log pipeline cannot parse: the same handlers are installed without it, and the shutdown is
    logged as JSON instead (below)."""
    if get_settings().log_format != "json" or sender is None:
        return
    from celery.apps.worker import (  # type: ignore[attr-defined]  # not in the stubs
        install_worker_term_handler,
        install_worker_term_hard_handler,
    )

    install_worker_term_handler(sender.controller, verbose=False)
    install_worker_term_hard_handler(sender.controller, verbose=False)


@worker_shutting_down.connect
def _log_shutdown(sig: Any = None, how: Any = None, **_: Any) -> None:
    structlog.get_logger("celery.apps.worker").info("worker shutting down", how=how, signal=sig)
