"""What each worker child process sets up for itself after the fork.

Wired here rather than in `worker.app`: the Celery app is imported by everything that sends a task (the API
server, the CLI, beat) and by every task module, so it stays free of the database and provider layers. Celery
imports this package (the app's `include`) in the worker before it forks its children, so the handler below is
connected in every child all the same.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init

from contactsync import db
from contactsync.providers import pool


@worker_process_init.connect
def _fresh_connections_per_child(**_: Any) -> None:
    """The parent's database connections and provider clients (and their sockets) are not this process's to use
    or close."""
    db.reset_engine()
    pool.forget()
