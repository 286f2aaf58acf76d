"""The app's contacts with their blocking keys (the mirror of remote contacts is `store.mirror`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from contactsync.appinput import AppInput
from contactsync.contact import SYNCED_FIELDS, CanonicalContact
from contactsync.matching import blocking_keys
from contactsync.matchinput import match_record
from contactsync.models import AppContact, ContactKey
from contactsync.models.base import table_of, utcnow
from contactsync.store import changes as feed
from contactsync.store.arrays import insert_rows, rows_of
from contactsync.sync.planning import digests, field_digest


def write_keys(s: Session, tenant_id: str, app_contact_id: int, content: dict[str, Any]) -> None:
    """Rewrite one contact's blocking keys; called whenever its content changes."""
    write_keys_many(s, tenant_id, {app_contact_id: content})


def drop_keys(s: Session, app_contact_ids: Sequence[int]) -> None:
    """Take deleted app contacts' keys away (`upsert_app_contacts` writes them again for one the app restates).

    A deleted contact is never a candidate, yet a key's holders decide whether it is too common to find by
    (`reconcile._candidates`): counted, a few deleted namesakes set aside a key that `contactsync match`, given
    the live contacts, finds a pair by. Holding none keeps that count a read of the (tenant, key) index that
    stops one past the limit; filtering deleted rows in it would visit each holder's contact, deleted ones too.
    """
    if app_contact_ids:
        s.execute(delete(ContactKey).where(ContactKey.app_contact_id.in_(list(app_contact_ids))))


def write_keys_many(
    s: Session, tenant_id: str, contents: Mapping[int, dict[str, Any]], *, new: Iterable[int] = ()
) -> None:
    """Rewrite the blocking keys of many contacts in two statements (one delete, one multi-row insert) instead
    of two per contact. `new` names contacts inserted in this transaction, which have no keys to delete."""
    key_sets = {i: blocking_keys(match_record(str(i), contents[i])) for i in contents}
    _replace_keys(s, tenant_id, key_sets, stale=set(contents) - set(new))


def _replace_keys(s: Session, tenant_id: str, key_sets: Mapping[int, frozenset[str]], stale: set[int]) -> None:
    """Delete the keys of the `stale` contacts and insert `key_sets`, in two statements."""
    if stale:
        s.execute(delete(ContactKey).where(ContactKey.app_contact_id.in_(sorted(stale))))
    rows = [
        {"tenant_id": tenant_id, "app_contact_id": i, "key": k} for i in sorted(key_sets) for k in sorted(key_sets[i])
    ]
    if rows:
        insert_rows(s, insert(table_of(ContactKey)).returning(table_of(ContactKey).c.app_contact_id), rows)


def rewrite_changed_keys(s: Session, tenant_id: str, key_sets: Mapping[int, frozenset[str]]) -> None:
    """Give each contact of `key_sets` those blocking keys, rewriting only the contacts whose stored keys differ.

    Planning collects the new keys of the app contacts it takes platform values into (a first sync: thousands).
    Comparing them with the stored keys, read in one statement, replaces preparing each contact's old content
    again to see whether its keys moved: preparing (phone parsing, VAT validation) is what keys cost. The stored
    keys come one row a contact (an array): a row a key made this read most of the statement's client time.

    Only the keys that moved are deleted and inserted: an edit moves few of a contact's keys (a new email address
    its address and domain keys), and a contact has about a dozen. The caller holds the contacts' rows locked
    (planning does), so the keys read here are the rows' keys until it commits."""
    if not key_sets:
        return
    stored: dict[int, frozenset[str]] = {i: frozenset() for i in key_sets}
    for app_contact_id, keys in s.execute(
        select(ContactKey.app_contact_id, func.array_agg(ContactKey.key))
        .where(ContactKey.app_contact_id.in_(sorted(key_sets)))
        .group_by(ContactKey.app_contact_id)
    ):
        stored[app_contact_id] = frozenset(keys)
    gone = [{"app_contact_id": i, "key": k} for i in sorted(key_sets) for k in sorted(stored[i] - key_sets[i])]
    if gone:
        table = table_of(ContactKey)
        pairs, params = rows_of(table, gone)
        s.execute(
            delete(table).where(table.c.app_contact_id == pairs.c.app_contact_id, table.c.key == pairs.c.key), params
        )
    added = {i: key_sets[i] - stored[i] for i in key_sets}
    _replace_keys(s, tenant_id, {i: keys for i, keys in added.items() if keys}, stale=set())


def same_keys(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a content change leaves the blocking keys as they are (then they need no rewrite)."""
    return blocking_keys(match_record("", old)) == blocking_keys(match_record("", new))


def upsert_app_contacts(
    s: Session,
    tenant_id: str,
    contacts: Iterable[tuple[str, CanonicalContact] | AppInput],
    updated_at: datetime | None = None,
    clocks: Mapping[str, datetime] | None = None,
) -> tuple[int, int]:
    """Insert or update the app's contacts by app id. Returns (created, changed).

    The app's edit time of an item is its own `updated_at`, else `clocks[app id]`, else `updated_at`; None means
    unknown (the platform then wins on a first link). A statement not newer than the stored edit time is stale (a
    replayed or reordered call, an old export) and changes nothing.

    A field changes the stored contact when its stated value differs from what the app is known to have held for
    it (`_seen_by_app`): the stored value where the app has seen it, else what the app stated last time. That is
    how an edit back to a value the app once stated (the platform's GBP reached the app, its user chose EUR
    again) wins, while a re-import without clocks, or a copy that never took the platform's value in, changes
    nothing.
    """
    created = changed = 0
    clocks = clocks or {}
    batch = [c if isinstance(c, AppInput) else AppInput(c[0], c[1], clocks.get(c[0])) for c in contacts]
    # Locked (in id order, as planning locks them) and read fresh: a run taking the platform's values in and this
    # statement each merge into the row as the other committed it, so neither overwrites the other's fields.
    existing = {
        row.app_id: row
        for row in s.scalars(
            select(AppContact)
            .where(AppContact.tenant_id == tenant_id, AppContact.app_id.in_([item.app_id for item in batch]))
            .order_by(AppContact.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    }
    now = utcnow()
    added: list[AppContact] = []
    rekey: list[AppContact] = []
    for item in batch:
        known = item.known_fields()
        edited_at = item.updated_at if item.updated_at is not None else updated_at
        content = item.contact.content()
        stated = digests(content, sorted(known))
        row = existing.get(item.app_id)
        if row is None:
            row = AppContact(
                tenant_id=tenant_id,
                app_id=item.app_id,
                name=item.contact.name,
                data=content,
                content_hash=item.contact.content_hash(),
                updated_at=now,
                edited_at=edited_at,
                stated=stated,
                unknown_fields=sorted(set(SYNCED_FIELDS) - known),
            )
            s.add(row)
            added.append(row)
            existing[item.app_id] = row
            created += 1
            continue
        if row.id is None:
            s.flush()  # the same app id twice in one batch: the first must be a row before it can be updated
        if edited_at is not None and row.edited_at is not None and edited_at <= row.edited_at:
            continue  # an older statement arriving late (a retried call, an old export): the newer one stands
        edits = [name for name, d in stated.items() if _seen_by_app(row, name, item.base_version, edited_at) != d]
        unknown = sorted(set(row.unknown_fields) - known)
        if not edits and not row.deleted and unknown == sorted(row.unknown_fields):
            if any(row.stated.get(name) != d for name, d in stated.items()):
                row.stated = {**row.stated, **stated}  # the app now states the stored values: no edit, no clock
            continue
        merged = {**row.data, **{name: content[name] for name in edits}}
        contact = CanonicalContact.model_validate(merged)
        row.data, row.content_hash, row.name = contact.content(), contact.content_hash(), contact.name
        row.stated = {**row.stated, **stated}
        row.unknown_fields = unknown
        row.deleted = False  # stated again after a deletion: its keys are written again below
        row.version += 1
        row.updated_at = now
        if edits:
            row.edited_at = edited_at
            row.edited_fields = {**row.edited_fields, **{name: row.version for name in edits}}
        changed += 1
        rekey.append(row)
    # One flush inserts the new rows together (batched, returning their ids), and their keys and those of the
    # changed rows go in with one delete and one insert, instead of a flush and two statements per contact.
    s.flush()
    write_keys_many(s, tenant_id, {row.id: row.data for row in [*rekey, *added]}, new=[row.id for row in added])
    return created, changed


def _seen_by_app(row: AppContact, name: str, base_version: int | None, edited_at: datetime | None) -> str | None:
    """The digest of what the app is known to have held for a field before this statement.

    Until the platform's value of the field reached the contact, that is what the app stated last. After, it is
    the stored (platform's) value if the app has seen it: its record is based on a version at or after the one
    that took the value in (`base_version`, the precise answer), or, when the app does not say, its edit time is
    later than the moment the value was taken in (an app that applies the changes feed holds it by then). A
    statement without either is treated as the app's own old copy, so a re-import without clocks, or a copy
    that never took the platform's value in, does not undo the platform's edit.
    """
    taken = row.taken_in.get(name)
    if isinstance(taken, dict):
        if base_version is not None:
            seen = base_version >= int(taken.get("v", 0))
        else:
            clock = edited_at if edited_at is None or edited_at.tzinfo else edited_at.replace(tzinfo=UTC)
            seen = clock is not None and clock > datetime.fromisoformat(str(taken.get("at")))
        if seen:
            return field_digest(row.data.get(name))
    stated = row.stated.get(name)
    return str(stated) if stated is not None else None


def update_app_content(
    s: Session,
    row: AppContact,
    content: dict[str, Any],
    *,
    remote_id: str | None = None,
    keys_to_write: dict[int, frozenset[str]] | None = None,
) -> str:
    """Apply changes that came from the platform to an app contact; returns its new hash. The app's clock
    (`edited_at`) and what it stated stay as they were: this is not an edit by the app.

    A caller updating many contacts (planning a big tenant) passes the linked `remote_id` it already holds (no
    look-up for the feed) and `keys_to_write`, which collects the new blocking keys of the contacts (not deleted)
    so that it rewrites those that moved with one `rewrite_changed_keys` per chunk, instead of two statements per
    contact and a second preparation of the old content to compare with.
    """
    contact = CanonicalContact.model_validate(content)
    old = row.data
    new = contact.content()
    feed.app_contact_updated(s, row, new, remote_id=remote_id, version=row.version + 1)
    row.data, row.content_hash, row.name = new, contact.content_hash(), contact.name
    row.version += 1
    row.updated_at = utcnow()
    taken = {"v": row.version, "at": row.updated_at.isoformat()}
    row.taken_in = {**row.taken_in, **{name: taken for name in SYNCED_FIELDS if old.get(name) != new.get(name)}}
    # Most platform edits (a phone's type, the currency) leave the keys as they are; a deleted contact holds none.
    if row.deleted:
        return row.content_hash
    if keys_to_write is not None:
        keys_to_write[row.id] = blocking_keys(match_record(str(row.id), row.data))
    elif not same_keys(old, row.data):
        write_keys(s, row.tenant_id, row.id, row.data)
    return row.content_hash
