"""A Maesn connection on `/customers` + `/suppliers` (v1) says a created contact's role by the list it posts to,
and an update cannot move a contact between them: an app contact that is both customer and supplier is created
a customer, and the platform lists it so from then on.

The create's answer was read with the app's two roles, so the next walk, listing the contact under `/customers`
only, looked like a platform change of its supplier role, and planning took it into the app: the app lost the
role. The answer is now read with the role the list gave it; the roles the connection cannot write stay the
app's.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.models import AppContact, Link, RemoteContact
from contactsync.tasks.schedule import trigger_sync
from tests.conftest import Workers
from tests.pipeline import platform_contacts, setup_tenant, sync_until_settled

pytestmark = pytest.mark.pipeline


def _roles() -> dict[str, tuple[bool, bool]]:
    with db.session() as s:
        return {a.app_id: (a.data["is_customer"], a.data["is_supplier"]) for a in s.scalars(select(AppContact))}


def test_an_app_contact_created_a_customer_on_a_split_platform_keeps_its_supplier_role(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    split, token = setup_tenant(
        sandbox,
        size=120,
        seed=57,
        dialect="maesn",
        options={"resources": "split", "limit": 20, "visibility_lag_seconds": 0},
    )
    workers.start(1, concurrency=2)
    before = {app_id: (c.is_customer, c.is_supplier) for app_id, c in split.app}
    first = trigger_sync("t1", full=True)
    assert first is not None
    assert sync_until_settled(first, workers)[-1].status == "succeeded"
    with db.session() as s:
        created_both = [
            (app.app_id, remote.remote_id)
            for app, remote in s.execute(
                select(AppContact, RemoteContact)
                .join(Link, Link.app_contact_id == AppContact.id)
                .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
                .where(Link.basis == "created")
            )
            if before[app.app_id] == (True, True)
        ]
    assert created_both, "the test needs app contacts of both roles that the run created"
    listed = {r["remote_id"]: (r["is_customer"], r["is_supplier"]) for r in platform_contacts(sandbox, token)}
    assert all(listed[remote_id] == (True, False) for _, remote_id in created_both)  # created as customers
    time.sleep(1.5)  # the next walk's window begins after the creates
    again = trigger_sync("t1")
    assert again is not None
    runs = sync_until_settled(again, workers)
    assert runs[-1].status == "succeeded" and runs[-1].kind == "incremental"
    assert runs[-1].fetched >= len(created_both)  # the walk read the creates back, as customers
    assert _roles() == before  # no role changed in the app, the supplier role of the created ones included
