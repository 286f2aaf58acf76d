"""Sending a pipeline task to the queue of the tenant it works for: the one place a task is enqueued.

Tasks are chained by reference (`enqueue(reconcile, tenant_id, run_id, page_no)`), not by name, so a reader (or
mypy, through the task's signature) follows the pipeline from one task to the next. This module imports no task:
each task module imports the tasks it hands work to, and the pipeline runs one way (schedule -> fetch ->
reconcile -> write), so no import cycle arises.
"""

from __future__ import annotations

from typing import Any, Concatenate, ParamSpec

from celery import Task

from contactsync.redis_keys import tenant_queue
from contactsync.settings import get_settings

P = ParamSpec("P")


def enqueue(task: Task[Concatenate[str, P], Any], tenant_id: str, *args: P.args, **kwargs: P.kwargs) -> None:
    """Queue `task(tenant_id, *args)` on the tenant's queue shard. The tenant id leads every message: tasks load
    rows only within that tenant, and the log context names it (see `worker.app`)."""
    queue = tenant_queue(tenant_id, get_settings().queue_shards)
    task.apply_async(args=(tenant_id, *args), kwargs=kwargs or None, queue=queue)
