"""A value cleared on the platform after a sync reaches the app, with real workers (`sync.planning`: a blank the
baseline proves new is a change), and stays cleared on both sides in the runs after; one the app clears stays
the app's (a blank is never sent) and the contact view says so."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.contact import CanonicalContact
from contactsync.models import AppContact, Link, RemoteContact
from contactsync.models.base import utcnow
from contactsync.store.contacts import upsert_app_contacts
from tests.conftest import Workers
from tests.pipeline import admin, contact_view, full_sync, platform_contacts, setup_tenant

pytestmark = pytest.mark.pipeline


def _linked() -> list[Any]:
    """Every linked pair as (app id, app data, remote id, remote data), in app id order."""
    with db.session() as s:
        return list(
            s.execute(
                select(AppContact.app_id, AppContact.data, RemoteContact.remote_id, RemoteContact.data)
                .join(Link, Link.app_contact_id == AppContact.id)
                .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
                .order_by(AppContact.app_id)
            ).all()
        )


@pytest.mark.parametrize("dialect", ["merge", "maesn"])
def test_a_value_cleared_on_the_platform_is_cleared_in_the_app(
    env: dict[str, str], workers: Workers, sandbox: Any, dialect: str
) -> None:
    _split, token = setup_tenant(sandbox, size=60, seed=31, dialect=dialect)
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    both = [(a, r) for a, app, r, remote in _linked() if app["emails"] and remote["emails"] and app["name"]]
    assert len(both) >= 2
    (cleared_app, cleared_remote), (kept_app, kept_remote) = both[0], both[1]
    admin(sandbox, token, "POST", "/mutate", op="edit", id=cleared_remote, changes={"emails": []})

    second = full_sync(workers, full=False)
    assert second.status == "succeeded", second.error
    assert second.updated_app == 1 and second.updated_remote == 0
    with db.session() as s:
        data = dict(s.execute(select(AppContact.app_id, AppContact.data)).all())
    assert data[cleared_app]["emails"] == []
    assert data[kept_app]["emails"]  # the others keep theirs
    on_platform = {row["remote_id"]: row for row in platform_contacts(sandbox, token)}
    assert not on_platform[cleared_remote]["emails"]  # not refilled from the app

    third = full_sync(workers, full=False)
    assert third.status == "succeeded" and third.updated_app == 0 and third.updated_remote == 0

    # The app clears another contact's emails: not sent (a blank never is), not refilled, and the contact view
    # says the platform still holds them.
    with db.session() as s:
        row = s.scalar(select(AppContact).where(AppContact.app_id == kept_app))
        assert row is not None
        contact = CanonicalContact.model_validate({**row.data, "emails": []})
        upsert_app_contacts(s, "t1", [(kept_app, contact)], updated_at=utcnow())
    fourth = full_sync(workers, full=False)
    assert fourth.status == "succeeded" and fourth.updated_remote == 0 and fourth.updated_app == 0
    assert {row["remote_id"]: row for row in platform_contacts(sandbox, token)}[kept_remote]["emails"]
    view = contact_view(kept_app)
    assert view["contact"]["emails"] == [] and view["kept_apart"] == ["emails"]


@pytest.mark.parametrize("dialect", ["merge", "maesn"])
def test_a_value_the_platform_never_kept_is_no_clearing_though_its_answer_showed_it(
    env: dict[str, str], workers: Workers, sandbox: Any, dialect: str
) -> None:
    """A platform that keeps no emails and sets its own customer and supplier flags (`ignored_on_write`), and
    answers a write with the request as sent (`write_answer: sent`): the full sync's creates are answered with the
    app's emails and roles, the next walk lists no emails and no roles. The platform has not changed the records
    since its answers (their clocks are the answers'), so that is what it kept: the app keeps its emails and
    roles, and nothing is sent either way."""
    _split, _token = setup_tenant(
        sandbox,
        size=40,
        seed=37,
        dialect=dialect,
        options={"api_version": "v2"} if dialect == "maesn" else None,  # Maesn's v1 writes no roles
        faults={"ignored_on_write": ["emails", "is_customer", "is_supplier"]},
        variant={"write_answer": "sent"},
    )
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    created = (
        select(AppContact.app_id, AppContact.data, RemoteContact.data)
        .join(Link, Link.app_contact_id == AppContact.id)
        .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
        .where(Link.method == "created")
    )
    with db.session() as s:
        answered = {app_id: (app["emails"], remote["emails"]) for app_id, app, remote in s.execute(created)}
        shown = [(a, app, remote) for a, app, remote in s.execute(created) if app["is_customer"] or app["is_supplier"]]
    # The answers showed the app's roles, as sent
    roles = {a: (app["is_customer"], app["is_supplier"]) for a, app, remote in shown}
    assert len(roles) >= 3 and all(roles[a] == (remote["is_customer"], remote["is_supplier"]) for a, _, remote in shown)
    sent = {app_id: emails for app_id, (emails, shown) in answered.items() if emails}
    assert len(sent) >= 3 and all(answered[a][1] for a in sent)  # the answers showed the emails

    second = full_sync(workers, full=False)
    assert second.status == "succeeded", second.error
    with db.session() as s:
        now = {app_id: (app["emails"], remote["emails"]) for app_id, app, remote in s.execute(created)}
    assert all(now[a][1] == [] for a in sent)  # the walk read what the platform kept
    assert {a: now[a][0] for a in sent} == sent
    with db.session() as s:
        kept = {
            a: (app["is_customer"], app["is_supplier"], remote["is_customer"]) for a, app, remote in s.execute(created)
        }
    assert {a: kept[a][:2] for a in roles} == roles
    assert not any(kept[a][2] for a in roles)  # the platform holds no customer flag of them
    assert second.updated_app == 0 and second.updated_remote == 0
    third = full_sync(workers, full=False)
    assert third.status == "succeeded" and third.updated_app == 0 and third.updated_remote == 0


@pytest.mark.parametrize("dialect", ["merge", "maesn"])
def test_an_app_clearing_reaches_a_platform_whose_connection_sends_clearings(
    env: dict[str, str], workers: Workers, sandbox: Any, dialect: str
) -> None:
    """With `send_clears`, the app's clearing of a contact's emails and phone lines is an edit like any other:
    the next run sends it (one update), the platform holds neither afterwards, and the run after has nothing to
    do."""
    _split, token = setup_tenant(sandbox, size=40, seed=41, dialect=dialect, options={"send_clears": True})
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    app_id, remote_id = next((a, r) for a, _app, r, remote in _linked() if remote["emails"] and remote["phones"])
    with db.session() as s:
        row = s.scalar(select(AppContact).where(AppContact.app_id == app_id))
        assert row is not None
        contact = CanonicalContact.model_validate({**row.data, "emails": [], "phones": []})
        upsert_app_contacts(s, "t1", [(app_id, contact)], updated_at=utcnow())
    second = full_sync(workers, full=False)
    assert second.status == "succeeded", second.error
    assert second.updated_remote == 1 and second.updated_app == 0
    on_platform = {row["remote_id"]: row for row in platform_contacts(sandbox, token)}[remote_id]
    assert not on_platform["emails"] and not on_platform["phones"]
    third = full_sync(workers, full=False)
    assert third.status == "succeeded" and third.updated_remote == 0 and third.updated_app == 0
    with db.session() as s:
        data = s.scalar(select(AppContact.data).where(AppContact.app_id == app_id))
    assert data is not None and data["emails"] == [] and data["phones"] == []
