"""Mirrored contacts a full walk did not return, and marking the ones the platform confirms gone.

On platforms without a deleted flag, "missing from a complete full walk of a still platform" is how deletions
show (`mirror.mark_unseen_deleted`). A walk that saw the platform change may have missed rows, so absence
proves nothing there; but each absentee can still be asked for by id, and a "not found" then is the platform's
own word. These helpers find the absentees and mark the confirmed ones; the provider calls sit in the task.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from contactsync.models import RemoteContact
from contactsync.store.mirror import live, mark_live_deleted, walked


def unseen_remote_ids(
    s: Session, tenant_id: str, connection_id: int, run_id: int, also_seen: Iterable[str], *, limit: int
) -> list[str] | None:
    """Remote ids of live mirrored contacts that neither the run's recorded pages nor `also_seen` (the page
    about to be recorded) hold; None when there are more than `limit` (too many to ask for one by one)."""
    extra = list(also_seen)
    query = select(RemoteContact.remote_id).where(
        *live(tenant_id, connection_id), RemoteContact.id.not_in(walked(run_id))
    )
    if extra:
        query = query.where(RemoteContact.remote_id.not_in(extra))
    found = list(s.scalars(query.limit(limit + 1)))
    return None if len(found) > limit else found


def mark_deleted(s: Session, tenant_id: str, connection_id: int, remote_ids: Iterable[str]) -> int:
    """Mark the given mirrored contacts deleted (soft, as `mark_unseen_deleted` does) and due for reconcile."""
    ids = list(remote_ids)
    if not ids:
        return 0
    return mark_live_deleted(s, tenant_id, connection_id, RemoteContact.remote_id.in_(ids))
