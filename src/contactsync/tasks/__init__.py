"""Celery tasks, thin wrappers around the store and the pure core: schedule -> fetch -> reconcile -> write.

Messages carry ids only (run id, page number, ledger id); each task reloads what it needs, so a redelivered or
duplicated message finds the current state and does nothing it has already done.
"""

from contactsync.tasks import fetch, plan, process, push, reconcile, schedule, write

__all__ = ["fetch", "plan", "process", "push", "reconcile", "schedule", "write"]
