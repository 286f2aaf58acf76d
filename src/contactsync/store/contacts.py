"""Both contact tables: the app's contacts with their blocking keys, and the mirror of remote contacts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from contactsync.contact import CanonicalContact
from contactsync.matching import blocking_keys
from contactsync.models import AppContact, ContactKey, RemoteContact, RunPage
from contactsync.models.base import utcnow
from contactsync.records import match_record
from contactsync.store import changes as feed


def _content_and_hash(contact: CanonicalContact) -> tuple[dict[str, Any], str]:
    return contact.content(), contact.content_hash()


def write_keys(s: Session, tenant_id: str, app_contact_id: int, content: dict[str, Any]) -> None:
    """Rewrite one contact's blocking keys; called whenever its content changes."""
    s.execute(delete(ContactKey).where(ContactKey.app_contact_id == app_contact_id))
    keys = blocking_keys(match_record(str(app_contact_id), content))
    if keys:
        s.execute(
            insert(ContactKey),
            [{"tenant_id": tenant_id, "app_contact_id": app_contact_id, "key": k} for k in sorted(keys)],
        )


def upsert_app_contacts(
    s: Session,
    tenant_id: str,
    contacts: Iterable[tuple[str, CanonicalContact]],
    updated_at: datetime | None = None,
    clocks: Mapping[str, datetime] | None = None,
) -> tuple[int, int]:
    """Insert or update the app's contacts by app id. Returns (created, changed); unchanged content is a no-op,
    so replaying the same import changes nothing. `clocks` gives app ids their own `updated_at` (the app's
    clock): a record not newer than the stored one is stale (a replayed or reordered request) and changes nothing."""
    created = changed = 0
    batch = list(contacts)
    existing = {
        row.app_id: row
        for row in s.scalars(
            select(AppContact).where(
                AppContact.tenant_id == tenant_id, AppContact.app_id.in_([app_id for app_id, _ in batch])
            )
        )
    }
    now = updated_at or utcnow()
    for app_id, contact in batch:
        content, digest = _content_and_hash(contact)
        row = existing.get(app_id)
        clock = clocks.get(app_id) if clocks else None
        if clock is not None and row is not None and row.updated_at >= clock:
            continue
        stamp = clock or now
        if row is None:
            row = AppContact(
                tenant_id=tenant_id,
                app_id=app_id,
                name=contact.name,
                data=content,
                content_hash=digest,
                updated_at=stamp,
            )
            s.add(row)
            s.flush()
            created += 1
        elif row.content_hash != digest or row.deleted:
            row.data, row.content_hash, row.name = content, digest, contact.name
            row.deleted = False
            row.version += 1
            row.updated_at = stamp
            changed += 1
        else:
            continue
        write_keys(s, tenant_id, row.id, content)
    return created, changed


def update_app_content(s: Session, row: AppContact, content: dict[str, Any]) -> str:
    """Apply changes that came from the platform to an app contact; returns its new hash."""
    contact = CanonicalContact.model_validate(content)
    feed.app_contact_updated(s, row, contact.content())
    row.data, row.content_hash, row.name = contact.content(), contact.content_hash(), contact.name
    row.version += 1
    row.updated_at = utcnow()
    write_keys(s, row.tenant_id, row.id, row.data)
    return row.content_hash


def upsert_remote_contacts(
    s: Session, tenant_id: str, connection_id: int, contacts: Sequence[CanonicalContact]
) -> tuple[list[int], int]:
    """Mirror a fetched page. Returns the row ids (in page order) and how many rows changed content.

    Upserts compare content hashes, so the overlap of incremental windows (the same record fetched twice) does
    no harm: an unchanged record only has its last-seen time moved.
    """
    rows = []
    seen: set[str] = set()
    for c in contacts:
        if c.remote_id is None or c.remote_id in seen:
            continue
        seen.add(c.remote_id)
        rows.append(
            {
                "tenant_id": tenant_id,
                "connection_id": connection_id,
                "remote_id": c.remote_id,
                "name": c.name,
                "data": c.content(),
                "raw": c.raw,
                "content_hash": c.content_hash(),
                "deleted": c.deleted,
                "remote_updated_at": c.remote_updated_at,
                "modified_at": c.modified_at,
                "needs_reconcile": True,
                "last_seen_at": utcnow(),
            }
        )
    if not rows:
        return [], 0
    insert_stmt = pg_insert(RemoteContact).values(rows)
    ex = insert_stmt.excluded
    changed_expr = RemoteContact.content_hash != ex.content_hash
    stmt = insert_stmt.on_conflict_do_update(
        index_elements=[RemoteContact.connection_id, RemoteContact.remote_id],
        set_={
            "name": ex.name,
            "data": ex.data,
            "raw": ex.raw,
            "content_hash": ex.content_hash,
            "deleted": ex.deleted,
            "remote_updated_at": ex.remote_updated_at,
            "modified_at": func.greatest(RemoteContact.modified_at, ex.modified_at),
            "needs_reconcile": RemoteContact.needs_reconcile | changed_expr,
            "last_seen_at": ex.last_seen_at,
        },
    ).returning(RemoteContact.id, RemoteContact.remote_id, RemoteContact.needs_reconcile)
    result = s.execute(stmt).all()
    by_remote = {r.remote_id: r.id for r in result}
    changed = sum(1 for r in result if r.needs_reconcile)
    return [by_remote[r["remote_id"]] for r in rows], changed


def mirror_one(s: Session, tenant_id: str, connection_id: int, contact: CanonicalContact) -> RemoteContact:
    """Mirror a contact the platform returned from a write, already reconciled (the writer knows its link)."""
    ids, _ = upsert_remote_contacts(s, tenant_id, connection_id, [contact])
    s.execute(update(RemoteContact).where(RemoteContact.id == ids[0]).values(needs_reconcile=False))
    row = s.get(RemoteContact, ids[0], populate_existing=True)
    assert row is not None
    return row


def mark_unseen_deleted(s: Session, tenant_id: str, connection_id: int, run_id: int) -> int:
    """After a *complete* full walk, mark mirrored contacts it did not return as deleted (soft: rows stay).

    Only ever called from the transaction that records a full walk's last page, so a walk that failed half-way
    can never turn "not seen yet" into "deleted".
    """
    seen = select(func.jsonb_array_elements_text(RunPage.remote_contact_ids).cast(Integer)).where(
        RunPage.run_id == run_id
    )
    rows = s.scalars(
        select(RemoteContact).where(
            RemoteContact.tenant_id == tenant_id,
            RemoteContact.connection_id == connection_id,
            RemoteContact.deleted.is_(False),
            RemoteContact.id.not_in(seen),
        )
    ).all()
    for row in rows:
        contact = CanonicalContact.model_validate({**row.data, "deleted": True})
        row.data, row.content_hash, row.deleted = contact.content(), contact.content_hash(), True
        row.needs_reconcile = True
    return len(rows)
