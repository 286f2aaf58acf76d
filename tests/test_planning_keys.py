"""Planning rewrites an app contact's blocking keys only when the platform's values moved them."""

from __future__ import annotations

from sqlalchemy import delete, literal_column, select
from sqlalchemy.orm import Session

from contactsync import db
from contactsync.matching import blocking_keys
from contactsync.matchinput import match_record
from contactsync.models import AppContact, ContactKey
from contactsync.store.contacts import rewrite_changed_keys, upsert_app_contacts, upsert_remote_contacts
from contactsync.store.ledger import plan_into_ledger
from contactsync.store.reconcile import reconcile_remote
from tests.test_store import company, make_tenant, run_after_full_walk


def _key_rows(s: Session, app_contact_id: int) -> dict[str, str]:
    """Each stored key of the contact with the transaction that wrote its row (`xmin`)."""
    rows = s.execute(
        select(ContactKey.key, literal_column("contact_keys.xmin::text")).where(
            ContactKey.app_contact_id == app_contact_id
        )
    )
    return {k: x for k, x in rows}


def test_platform_values_that_leave_the_keys_as_they_are_do_not_rewrite_them_and_others_do(
    env: dict[str, str],
) -> None:
    conn_id = make_tenant()
    with db.session() as s:
        upsert_app_contacts(
            s, "t1", [("a1", company("Alpha GmbH", "DE123456789")), ("a2", company("Beta AG", "DE234567891"))]
        )
        # The platform knows a currency for Alpha (no key depends on it) and an email for Beta (a key does).
        ids, _ = upsert_remote_contacts(
            s,
            "t1",
            conn_id,
            [
                company("Alpha GmbH", "DE123456789", currency="EUR", remote_id="r1"),
                company("Beta AG", "DE234567891", email="info@beta-ag.de", remote_id="r2"),
            ],
        )
        assert reconcile_remote(s, "t1", ids).linked == 2
    with db.session() as s:
        apps = {a.app_id: a.id for a in s.scalars(select(AppContact))}
        before = {app_id: _key_rows(s, i) for app_id, i in apps.items()}
    with db.session() as s:
        run = run_after_full_walk(s)
        out = plan_into_ledger(s, "t1", conn_id, run.id, allow_creates=True)
        assert out.app_updates == 2
    with db.session() as s:
        after = {app_id: _key_rows(s, i) for app_id, i in apps.items()}
        beta = s.get(AppContact, apps["a2"])
        assert beta is not None and beta.data["emails"] == ["info@beta-ag.de"]
        assert set(after["a2"]) == set(blocking_keys(match_record(str(beta.id), beta.data)))
    assert after["a1"] == before["a1"]  # the same rows: not deleted and inserted again
    assert set(after["a2"]) != set(before["a2"])


def test_stored_keys_are_what_decides_a_rewrite(env: dict[str, str]) -> None:
    """A contact whose stored keys are not those of its content (keys written by an older rule) gets the new
    ones; one whose stored keys are already those given is left alone."""
    make_tenant()
    with db.session() as s:
        upsert_app_contacts(
            s, "t1", [("a1", company("Alpha GmbH", "DE123456789")), ("a2", company("Beta AG", "DE234567891"))]
        )
        apps = {a.app_id: a for a in s.scalars(select(AppContact))}
        s.execute(delete(ContactKey).where(ContactKey.app_contact_id == apps["a1"].id))
        s.add(ContactKey(tenant_id="t1", app_contact_id=apps["a1"].id, key="old:rule"))
    with db.session() as s:
        kept = _key_rows(s, apps["a2"].id)
        wanted = {a.id: blocking_keys(match_record(str(a.id), a.data)) for a in apps.values()}
        rewrite_changed_keys(s, "t1", wanted)
    with db.session() as s:
        assert set(_key_rows(s, apps["a1"].id)) == set(wanted[apps["a1"].id])
        assert _key_rows(s, apps["a2"].id) == kept
