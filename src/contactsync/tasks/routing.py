"""Sending tasks to the queue of the tenant they work for."""

from __future__ import annotations

from typing import Any

from contactsync.redis_keys import tenant_queue
from contactsync.settings import get_settings
from contactsync.worker.app import app


def send(task_name: str, tenant_id: str, *args: Any, countdown: float | None = None) -> None:
    queue = tenant_queue(tenant_id, get_settings().queue_shards)
    # The tenant id leads every message: tasks load rows only within that tenant.
    app.send_task(task_name, args=[tenant_id, *args], queue=queue, countdown=countdown)
