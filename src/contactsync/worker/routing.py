"""Sending a pipeline task to the queue of the tenant it works for: the one place a task is enqueued.

Tasks are chained by reference (`enqueue(reconcile, tenant_id, run_id, page_no)`), not by name, so a reader (or
mypy, through the task's signature) follows the pipeline from one task to the next. This module imports no task:
each task module imports the tasks it hands work to, and the pipeline runs one way (schedule -> fetch ->
reconcile -> write), so no import cycle arises.

A message costs a round trip to Redis for itself and one for its task-sent event; on a loaded machine that is
tens of milliseconds a message, too slow for a schedule tick that starts a thousand runs. `sent_together` sends
the messages of a block at once instead: through one producer, with kombu's publish batch (`Producer.batch`),
which the Redis transport turns into pipelines of every message and every task-sent event (up to 1,000 commands
each, kombu's default: one for a schedule batch of 500), the last executed when the block ends. Nothing else
changes: each message still goes to its tenant's queue, and monitoring (Flower) still gets a task-sent event for
each.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec

from celery import Task
from kombu import Producer

from contactsync.redis_keys import tenant_queue
from contactsync.settings import get_settings
from contactsync.worker.app import NO_TIME_LIMITS, app

P = ParamSpec("P")

# The producer of the innermost `sent_together` block (None outside one: each message takes a pooled producer).
_batch_producer: ContextVar[Producer | None] = ContextVar("batch_producer", default=None)


def enqueue(task: Task[Concatenate[str, P], Any], tenant_id: str, *args: P.args, **kwargs: P.kwargs) -> None:
    """Queue `task(tenant_id, *args)` on the tenant's queue shard. The tenant id leads every message: tasks load
    rows only within that tenant, and the log context names it (see `worker.app`)."""
    enqueue_later(None, task, tenant_id, *args, **kwargs)


def enqueue_later(
    countdown: float | None,
    task: Task[Concatenate[str, P], Any],
    tenant_id: str,
    *args: P.args,
    **kwargs: P.kwargs,
) -> None:
    """`enqueue`, to run no sooner than `countdown` seconds from now (None: at once). The worker that takes the
    message holds it unacknowledged until then, so callers keep `countdown` well inside the broker's visibility
    timeout."""
    queue = tenant_queue(tenant_id, get_settings().queue_shards)
    options: dict[str, Any] = {"queue": queue, "producer": _batch_producer.get(), **NO_TIME_LIMITS}
    if countdown is not None:  # else at once: the message carries no eta at all
        options["countdown"] = countdown
    task.apply_async(args=(tenant_id, *args), kwargs=kwargs or None, **options)


@contextmanager
def sent_together() -> Iterator[None]:
    """Every `enqueue` in the block is buffered and sent in Redis pipelines, the last when the block ends.

    Meant for messages whose state is already committed (runs started, runs to re-drive): if the block raises,
    or the pipeline fails (kombu's `BatchPublishError`: delivery uncertain), messages may be missing, and the
    schedule tick re-drives each run whose heartbeat stays old (`tasks.schedule.redrive_stale_runs`), as it does
    after a crash between a commit and its sends. A message sent twice meanwhile is harmless: every task is
    idempotent."""
    with app.producer_or_acquire() as producer, producer.batch():
        token = _batch_producer.set(producer)
        try:
            yield
        finally:
            _batch_producer.reset(token)
