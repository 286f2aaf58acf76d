"""`contactsync db upgrade` brings stored app contacts' blocking keys up to the current key rules."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from contactsync import db
from contactsync.contact import Address, CanonicalContact
from contactsync.matching import blocking_keys
from contactsync.matchinput import match_record
from contactsync.models import AppContact, ContactKey, RemoteContact
from contactsync.store.backfill import refresh_keys
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.reconcile import reconcile_remote
from tests.test_settings import _cli
from tests.test_store import make_tenant


def person(name: str, street: str, remote_id: str | None = None) -> CanonicalContact:
    address = Address(street_1=street, postal_code="80331", city="München", country="DE")
    return CanonicalContact(remote_id=remote_id, name=name, is_customer=True, addresses=(address,))


def test_old_keys_are_rewritten_in_batches_once_and_reconcile_then_finds_the_candidate(env: dict[str, str]) -> None:
    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(
            s, "t1", [("a1", person("Johann Schmidt", "Lindwurmstraße 12"))]
            + [(f"b{i}", person(f"Firma {i} GmbH", f"Weg {i}")) for i in range(5)],
        )  # fmt: skip
        # As stored before the phonetic and address keys existed: one key no remote contact shares.
        s.execute(delete(ContactKey))
        ids = list(s.scalars(select(AppContact.id).order_by(AppContact.id)))
        s.execute(insert(ContactKey), [{"tenant_id": "t1", "app_contact_id": i, "key": f"old:{i}"} for i in ids])
        (remote,), _, _ = upsert_remote_contacts(s, "t1", conn_id, [person("Schmitt, Johan", "Lindwurmstr. 12", "r1")])
        assert reconcile_remote(s, "t1", [remote]).unmatched == 1  # the old keys find no candidate
    assert refresh_keys(batch=4) == len(ids)  # two batches
    assert refresh_keys(batch=4) == 0  # nothing left to rewrite
    with db.session() as s:
        for app in s.scalars(select(AppContact)):
            keys = set(s.scalars(select(ContactKey.key).where(ContactKey.app_contact_id == app.id)))
            assert keys == set(blocking_keys(match_record(str(app.id), app.data)))
        s.execute(update(RemoteContact).values(needs_reconcile=True))
        again = reconcile_remote(s, "t1", [remote])
        assert again.linked + again.reviewed == 1  # the new keys bring the pair together


def test_db_upgrade_runs_the_refresh(env: dict[str, str]) -> None:
    make_tenant()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [("a1", person("Johann Schmidt", "Lindwurmstraße 12"))])
        s.execute(delete(ContactKey))
    proc = _cli(env, "db", "upgrade")
    assert proc.returncode == 0, proc.stderr
    assert "blocking keys refreshed for 1 app contacts" in proc.stdout
