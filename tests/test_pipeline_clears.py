"""A value cleared on the platform after a sync reaches the app, with real workers (`sync.planning`: a blank the
baseline proves new is a change), and stays cleared on both sides in the runs after."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.models import AppContact, Link, RemoteContact
from tests.conftest import Workers
from tests.pipeline import admin, full_sync, platform_contacts, setup_tenant

pytestmark = pytest.mark.pipeline


@pytest.mark.parametrize("dialect", ["merge", "maesn"])
def test_a_value_cleared_on_the_platform_is_cleared_in_the_app(
    env: dict[str, str], workers: Workers, sandbox: Any, dialect: str
) -> None:
    _split, token = setup_tenant(sandbox, size=60, seed=31, dialect=dialect)
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    with db.session() as s:
        pairs = s.execute(
            select(AppContact.app_id, AppContact.data, RemoteContact.remote_id, RemoteContact.data)
            .join(Link, Link.app_contact_id == AppContact.id)
            .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
            .order_by(AppContact.app_id)
        ).all()
    both = [(a, r) for a, app, r, remote in pairs if app["emails"] and remote["emails"] and app["name"]]
    assert len(both) >= 2
    (cleared_app, cleared_remote), (kept_app, _kept_remote) = both[0], both[1]
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
