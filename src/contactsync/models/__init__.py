"""The schema: SQLAlchemy 2 typed models; Alembic migrations live in `contactsync/migrations`."""

from contactsync.models.api import ApiKey, Change, ChangeCounter, PushCursor, PushTarget
from contactsync.models.base import Base
from contactsync.models.contacts import AppContact, ContactKey, RemoteContact
from contactsync.models.links import Link, MatchLabel, ReviewItem
from contactsync.models.runs import (
    ACTIVE_RUN_STATES,
    RUN_COUNTERS,
    QuarantinedRecord,
    RunPage,
    SyncCursor,
    SyncRun,
)
from contactsync.models.tenant import Connection, Tenant
from contactsync.models.writes import OPEN_WRITE_STATES, WriteOp

__all__ = [
    "ACTIVE_RUN_STATES",
    "OPEN_WRITE_STATES",
    "RUN_COUNTERS",
    "ApiKey",
    "AppContact",
    "Base",
    "Change",
    "ChangeCounter",
    "Connection",
    "ContactKey",
    "Link",
    "MatchLabel",
    "PushCursor",
    "PushTarget",
    "QuarantinedRecord",
    "RemoteContact",
    "ReviewItem",
    "RunPage",
    "SyncCursor",
    "SyncRun",
    "Tenant",
    "WriteOp",
]
