"""Deleted app contacts hold no blocking keys, so they never count towards a key being too common.

A deleted app contact is never a candidate, and the batch matcher (`contactsync match`) knows only the contacts
it is given; had deleted contacts kept their keys, a tenant that deleted a few namesakes would have its
reconcile set aside a key the batch matcher uses, and miss a pair the batch matcher finds.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from contactsync import db
from contactsync.api.contacts import delete_contact
from contactsync.contact import Address, CanonicalContact
from contactsync.matching import blocking_keys, match_all
from contactsync.matching.blocking import WEAK_HOLDER_LIMIT
from contactsync.matchinput import match_record
from contactsync.models import AppContact, ContactKey, Link, RemoteContact, ReviewItem
from contactsync.store.backfill import refresh_keys
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.reconcile import reconcile_remote
from tests.test_store import make_tenant

# Namesakes of the app's André Steinmann: enough of them to make every key he shares with the platform's
# "Adnre Steinmann" (a surname with an initial, weak kinds) too common, were they all counted.
NAMESAKES = [f"n{i}" for i in range(1, 2 * WEAK_HOLDER_LIMIT + 1)]


def person(
    name: str, street: str | None, postal: str | None, city: str | None, rid: str | None = None
) -> CanonicalContact:
    address = Address(street_1=street, postal_code=postal, city=city, country="DE")
    return CanonicalContact(remote_id=rid, name=name, is_customer=True, addresses=(address,) if street else ())


def app_contacts() -> list[tuple[str, CanonicalContact]]:
    mine = ("andre", person("André Steinmann", "Wolfstrasse 168", "50612", "Bulle"))
    others = [
        (app_id, person(f"Anna Steinmann{'' if i % 2 else 'n'}", f"Weg {i}", f"{10000 + i}", f"Ort{i}"))
        for i, app_id in enumerate(NAMESAKES, 1)
    ]
    return [mine, *others]


def pipeline_and_batch(conn_id: int) -> tuple[tuple[set[str], set[str]], tuple[set[str], set[str]]]:
    """(links, reviewed) of one reconcile of the platform's contact, and of `match_all` over the live contacts."""
    with db.session() as s:
        s.execute(update(RemoteContact).values(needs_reconcile=True))
        s.execute(delete(ReviewItem))
        s.execute(delete(Link))
        (remote_id,), _, _ = upsert_remote_contacts(
            s, "t1", conn_id, [person("Adnre Steinmann", None, None, None, "r1")]
        )
        reconcile_remote(s, "t1", [remote_id])
    with db.session() as s:
        links = {f"{r}>{a}" for r, a in s.execute(select(Link.remote_contact_id, Link.app_contact_id))}
        reviewed = {str(r) for r in s.scalars(select(ReviewItem.remote_contact_id))}
        remote = s.get(RemoteContact, remote_id)
        assert remote is not None
        live = [
            match_record(str(a.id), a.data) for a in s.scalars(select(AppContact).where(AppContact.deleted.is_(False)))
        ]
        decisions = match_all([match_record(str(remote.id), remote.data)], live, workers=1)
    batch_links = {f"{d.left_id}>{d.right_id}" for d in decisions if d.decision == "link"}
    batch_reviewed = {d.left_id for d in decisions if d.decision == "review"}
    return (links, reviewed), (batch_links, batch_reviewed)


def stored_keys() -> dict[str, set[str]]:
    with db.session() as s:
        rows = s.execute(
            select(AppContact.app_id, ContactKey.key).join(ContactKey, ContactKey.app_contact_id == AppContact.id)
        )
        held: dict[str, set[str]] = {}
        for app_id, key in rows:
            held.setdefault(app_id, set()).add(key)
        return held


def test_deleted_namesakes_do_not_set_aside_the_key_the_batch_matcher_finds_the_pair_by(env: dict[str, str]) -> None:
    conn_id = make_tenant()
    contacts = app_contacts()
    with db.session() as s:
        upsert_app_contacts(s, "t1", contacts)
    # With every namesake live, the pair's keys are too common in both paths: neither compares it.
    pipeline, batch = pipeline_and_batch(conn_id)
    assert pipeline == batch == (set(), set())

    for app_id in NAMESAKES:
        delete_contact("t1", app_id)
    assert set(stored_keys()) == {"andre"}  # the deleted ones hold none
    pipeline, batch = pipeline_and_batch(conn_id)
    assert batch != (set(), set())  # the batch matcher, knowing the live contacts only, finds the pair ...
    assert pipeline == batch  # ... and so does the reconcile

    # Stated again by the app, the namesakes are live again and hold their keys: the pair is set aside again.
    with db.session() as s:
        upsert_app_contacts(s, "t1", contacts[1:])
    held = stored_keys()
    assert set(held) == {"andre", *NAMESAKES}
    assert held["n1"] == set(blocking_keys(match_record("", contacts[1][1].content())))
    pipeline, batch = pipeline_and_batch(conn_id)
    assert pipeline == batch == (set(), set())


def test_refreshing_keys_takes_a_deleted_contacts_keys_away_and_gives_none(env: dict[str, str]) -> None:
    make_tenant()
    contacts = app_contacts()
    with db.session() as s:
        upsert_app_contacts(s, "t1", contacts)
    for app_id in NAMESAKES:
        delete_contact("t1", app_id)
    with db.session() as s:
        # As a contact deleted before deleted contacts gave their keys up still holds them.
        n1 = s.scalar(select(AppContact).where(AppContact.app_id == "n1"))
        assert n1 is not None
        keys = blocking_keys(match_record(str(n1.id), n1.data))
        s.execute(insert(ContactKey), [{"tenant_id": "t1", "app_contact_id": n1.id, "key": k} for k in keys])
    assert set(stored_keys()) == {"andre", "n1"}
    assert refresh_keys() == 1
    assert set(stored_keys()) == {"andre"}
    assert refresh_keys() == 0  # nothing left, and no keys given back
