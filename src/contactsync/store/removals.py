"""A linked platform contact deleted or archived on the platform: the app contact learns it, nothing recreates it.

Before, a deletion stopped halfway: the mirror row was marked deleted, but the app contact stayed active and
linked, and its later edits were planned against a contact that no longer exists. Here the app contact's status
changes (`deleted_on_platform`, or `archived`), a deletion ends the link (the row stays, so the app contact never
counts as unlinked and is never created again), and writes still queued for it are cancelled.

`platform_state_changed` is the one place such a change is applied, whichever way it was learnt (a deletion
flag, a full walk's inference, an archived status); anything that must hear of it (a changes feed for the app)
hooks in there.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from contactsync.models import AppContact, Link, RemoteContact, WriteOp
from contactsync.models.base import utcnow
from contactsync.states import CANCELLABLE_WRITE_STATES, AppContactStatus, ContactStatus, PlatformState, WriteState


def platform_state_of(remote: RemoteContact) -> PlatformState:
    if remote.deleted:
        return PlatformState.DELETED
    if (remote.data or {}).get("status") == ContactStatus.ARCHIVED:
        return PlatformState.ARCHIVED
    return PlatformState.ACTIVE


def platform_state_changed(s: Session, link: Link, app: AppContact, state: PlatformState) -> bool:
    """Apply the platform's state of a linked contact to the app contact; returns whether its status changed."""
    if state is PlatformState.DELETED:
        if link.ended_at is None:
            link.ended_at, link.end_reason, link.updated_at = utcnow(), "deleted on the platform", utcnow()
            s.execute(
                update(WriteOp)
                .where(WriteOp.app_contact_id == app.id, WriteOp.status.in_(CANCELLABLE_WRITE_STATES))
                .values(status=WriteState.CANCELLED, last_error="the platform contact was deleted", updated_at=utcnow())
            )
        new_status = AppContactStatus.DELETED_ON_PLATFORM
    elif state is PlatformState.ARCHIVED:
        new_status = AppContactStatus.ARCHIVED
    else:
        # Restored or un-archived on the platform; a deletion is final for this link, so only an archive lifts.
        if app.status != AppContactStatus.ARCHIVED:
            return False
        new_status = AppContactStatus.ACTIVE
    if app.status == new_status:
        return False
    app.status = new_status
    app.version += 1
    app.updated_at = utcnow()
    return True
