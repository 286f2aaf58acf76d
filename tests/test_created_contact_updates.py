"""Updates of a contact our create made, while the platform does not list it yet, against the sandbox over HTTP
and a real database (the write task run in-process).

A platform lists a contact it created for us only after its visibility lag, and an edit its user makes to the
contact meanwhile is listed with it. An update planned before then rests on our create's answer: sent, it would
overwrite that edit unseen. It waits for a walk begun after the lag, which shows the edit, and the newer side
wins.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from contactsync import db
from contactsync.contact import CanonicalContact
from contactsync.models import AppContact, Link, RemoteContact, WriteOp
from contactsync.models.base import utcnow
from contactsync.providers.base import Window
from contactsync.sandbox.admin_client import SandboxAdmin
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.ledger import PlanOutcome, plan_into_ledger
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.tenants import connection_of, provider_for
from contactsync.tasks.write import write
from tests.pipeline import connect_tenant, writing_run

LAG = timedelta(seconds=30)  # what contactsync is told the platform may take
NEW = CanonicalContact(name="Fjordkant Logistik GmbH", is_customer=True, emails=("post@fjordkant.example",))


def _tenant(sandbox: Any) -> tuple[SandboxAdmin, str]:
    admin = SandboxAdmin(sandbox.url)
    # The platform lists what it created a few seconds after the create (well inside the lag we expect).
    token = admin.create_account(contacts=[], rate_limit_per_minute=100_000, faults={"visibility_lag_ms": 3_000})
    with db.session() as s:
        connect_tenant(s, sandbox, token)
        upsert_app_contacts(s, "t1", [("a1", NEW)], updated_at=datetime.now(UTC))
    return admin, token


def _plan(walk_started_at: datetime) -> tuple[PlanOutcome, list[int]]:
    """Plan a run whose walk began at `walk_started_at`; returns the outcome and the new ledger entries."""
    with db.session() as s:
        conn, run = writing_run(s)
        before = set(s.scalars(select(WriteOp.id)))
        out = plan_into_ledger(
            s, "t1", conn.id, run.id, allow_creates=True, walk_started_at=walk_started_at, visibility_lag=LAG
        )
        new = sorted(set(s.scalars(select(WriteOp.id))) - before)
        run.status, run.finished_at = "succeeded", utcnow()
        return out, new


def _walk() -> None:
    """A full walk of the platform into the mirror, as a fetch does."""
    with db.session() as s:
        conn = connection_of(s, "t1")
        assert conn is not None
        page = provider_for(conn).provider.fetch_page(Window(), None)
        assert page.next_token is None
        upsert_remote_contacts(s, "t1", conn.id, page.contacts)


def _edit_app(phone: str) -> None:
    with db.session() as s:
        row = s.scalar(select(AppContact).where(AppContact.app_id == "a1"))
        assert row is not None
        contact = CanonicalContact.model_validate({**row.data, "phones": [{"number": phone, "type": "work"}]})
        upsert_app_contacts(s, "t1", [("a1", contact)], updated_at=datetime.now(UTC))


def _phones(rows: list[dict[str, Any]]) -> list[Any]:
    return [r["phones"] for r in rows]


def _platform(sandbox: Any, token: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/contacts", timeout=30).json())


def _created() -> tuple[str, datetime]:
    """Run the planned create; returns the platform id and when the link it made was recorded."""
    _out, entries = _plan(utcnow())
    assert len(entries) == 1
    write.apply(args=["t1", entries[0]])
    with db.session() as s:
        link = s.scalar(select(Link))
        assert link is not None and link.method == "created"
        remote = s.get(RemoteContact, link.remote_contact_id)
        assert remote is not None
        return remote.remote_id, link.created_at


def test_an_update_waits_for_the_lag_and_a_newer_platform_edit_made_meanwhile_wins(
    env: dict[str, str], sandbox: Any
) -> None:
    admin, token = _tenant(sandbox)
    remote_id, created_at = _created()
    _edit_app("+49 40 1111111")
    time.sleep(0.05)
    admin.mutate(token, "edit", id=remote_id, changes={"phones": [{"number": "+49 40 2222222", "type": "work"}]})

    # The platform does not list the contact yet, nor its user's edit: nothing may be sent.
    out, entries = _plan(walk_started_at=utcnow())
    assert out.deferred == 1 and entries == []
    assert _phones(_platform(sandbox, token)) == [[{"number": "+49 40 2222222", "type": "work"}]]

    # Once listed, the platform's edit (the newer one) is taken into the app, and nothing goes to the platform.
    time.sleep(3.5)
    _walk()
    out, entries = _plan(walk_started_at=created_at + LAG)
    assert out.deferred == 0 and entries == [] and out.app_updates == 1
    with db.session() as s:
        app = s.scalar(select(AppContact).where(AppContact.app_id == "a1"))
        assert app is not None and app.data["phones"] == [{"number": "+49 40 2222222", "type": "work"}]
    assert _phones(_platform(sandbox, token)) == [[{"number": "+49 40 2222222", "type": "work"}]]


def test_an_app_edit_alone_is_sent_by_the_first_plan_after_the_lag(env: dict[str, str], sandbox: Any) -> None:
    _admin, token = _tenant(sandbox)
    _remote_id, created_at = _created()
    _edit_app("+49 40 3333333")

    out, entries = _plan(walk_started_at=created_at + LAG - timedelta(seconds=1))
    assert out.deferred == 1 and entries == []
    out, entries = _plan(walk_started_at=created_at + LAG)
    assert out.deferred == 0 and len(entries) == 1
    write.apply(args=["t1", entries[0]])
    assert _phones(_platform(sandbox, token)) == [[{"number": "+49 40 3333333", "type": "work"}]]
