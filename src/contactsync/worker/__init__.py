"""The Celery app (`celery -A contactsync.worker worker`), its configuration and routing.

The tasks it runs live in `contactsync.tasks`; this package only wires them to queues and processes.
"""

from contactsync.worker.app import app, celery

__all__ = ["app", "celery"]
