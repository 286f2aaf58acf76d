"""Blocking keys of stored app contacts brought up to the current key rules, run by `contactsync db upgrade`.

The persisted keys (`contact_keys`) are how a reconcile finds candidates; app contacts stored before the key
rules gained phonetic and address keys (matcher v2) keep their old keys until their content changes, so such
a tenant would not find the people and identifier-less companies the new keys bring together. The key rules
are Python, not SQL, so this is a command rather than an Alembic data migration, run after the migrations.
It works in batches of `BATCH` contacts, each in its own transaction, and rewrites only contacts whose keys
differ from what the rules give now: running it again changes nothing. A deleted contact holds no keys
(`contacts.drop_keys`); those deleted before that rule have theirs taken away here.
"""

from __future__ import annotations

from sqlalchemy import select

from contactsync import db
from contactsync.matching import blocking_keys
from contactsync.matchinput import match_record
from contactsync.models import AppContact, ContactKey
from contactsync.store.contacts import drop_keys, write_keys

BATCH = 1000


def refresh_keys(batch: int = BATCH) -> int:
    """Rewrite the keys of every app contact whose stored keys are out of date; returns how many were."""
    rewritten = 0
    after = 0
    while True:
        with db.session() as s:
            rows = s.execute(
                select(AppContact.id, AppContact.tenant_id, AppContact.data, AppContact.deleted)
                .where(AppContact.id > after)
                .order_by(AppContact.id)
                .limit(batch)
            ).all()
            if not rows:
                return rewritten
            stored: dict[int, set[str]] = {}
            for contact_id, key in s.execute(
                select(ContactKey.app_contact_id, ContactKey.key).where(
                    ContactKey.app_contact_id.in_([r.id for r in rows])
                )
            ):
                stored.setdefault(contact_id, set()).add(key)
            gone = [r.id for r in rows if r.deleted and r.id in stored]
            drop_keys(s, gone)
            rewritten += len(gone)
            for contact_id, tenant_id, data, deleted in rows:
                if deleted:
                    continue
                if set(blocking_keys(match_record(str(contact_id), data))) != stored.get(contact_id, set()):
                    write_keys(s, tenant_id, contact_id, data)
                    rewritten += 1
            after = rows[-1].id
