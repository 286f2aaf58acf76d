"""The schema: SQLAlchemy 2 typed models; Alembic migrations live in `contactsync/migrations`."""

from contactsync.models.api import ApiKey, Change, ChangeCounter, PushCursor, PushTarget
from contactsync.models.base import Base
from contactsync.models.contacts import AppContact, ContactKey, RemoteContact
from contactsync.models.links import Link, MatchLabel, MatchModel, ReviewItem
from contactsync.models.runs import (
    ACTIVE_RUN_STATES,
    RUN_COUNTERS,
    QuarantinedRecord,
    RunPage,
    RunStatus,
    SyncCursor,
    SyncRun,
    WalkNote,
)
from contactsync.models.tenant import Connection, Tenant
from contactsync.models.writes import (
    ACTIVE_WRITE_SQL,
    ACTIVE_WRITE_STATES,
    MAYBE_SENT_STATES,
    OPEN_WRITE_STATES,
    WriteOp,
    WriteState,
)

__all__ = [
    "ACTIVE_RUN_STATES",
    "ACTIVE_WRITE_SQL",
    "ACTIVE_WRITE_STATES",
    "MAYBE_SENT_STATES",
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
    "MatchModel",
    "PushCursor",
    "PushTarget",
    "QuarantinedRecord",
    "RemoteContact",
    "ReviewItem",
    "RunPage",
    "RunStatus",
    "SyncCursor",
    "SyncRun",
    "Tenant",
    "WalkNote",
    "WriteOp",
    "WriteState",
]
