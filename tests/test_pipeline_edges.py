"""The pipeline's edges, with real workers: lost authorisation, platform-side edits and deletions, bad records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from contactsync import db
from contactsync.models import (
    AppContact,
    Connection,
    Link,
    QuarantinedRecord,
    RemoteContact,
    RunPage,
    Tenant,
)
from contactsync.models.base import utcnow
from contactsync.sandbox.seed import companies
from contactsync.store.contacts import upsert_app_contacts
from contactsync.tasks.schedule import start_due_runs
from tests.conftest import Workers
from tests.pipeline import a_matched_pair, admin, full_sync, matched_pairs, platform_contacts, setup_tenant

pytestmark = pytest.mark.pipeline


def test_revoked_credentials_pause_the_tenant_visibly(env: dict[str, str], workers: Workers, sandbox: Any) -> None:
    _split, token = setup_tenant(sandbox, size=40, seed=5)
    admin(sandbox, token, "PATCH", revoked=True)
    workers.start(1)
    run = full_sync(workers)
    assert run.status == "paused"
    assert run.error is not None and "re-authorisation" in run.error
    with db.session() as s:
        conn = s.scalar(select(Connection))
        assert conn is not None and conn.status == "needs_reauth"
        tenant = s.get(Tenant, "t1")
        assert tenant is not None
        tenant.next_sync_at = utcnow() - timedelta(minutes=1)
    assert start_due_runs() == 0  # paused, not failing forever


def test_platform_edit_reaches_the_app_and_is_not_pushed_back(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    _split, token = setup_tenant(sandbox, size=60, seed=8)
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    remote_id, app_id = a_matched_pair()
    admin(sandbox, token, "POST", "/mutate", op="edit", id=remote_id, changes={"emails": ["books@example.org"]})
    run = full_sync(workers, full=False)
    assert run.status == "succeeded" and run.kind == "incremental"
    assert run.updated_app >= 1
    assert run.updated_remote == 0
    with db.session() as s:
        app = s.scalar(select(AppContact).where(AppContact.app_id == app_id))
        assert app is not None and app.data["emails"][0] == "books@example.org"


def test_a_company_new_on_both_sides_is_matched_within_the_incremental_walk(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    """An incremental page with one new contact among echoes is reconciled by the walk itself (no reconcile
    task), with the matcher: the company the app and the platform both gained is linked, not created twice."""
    _split, token = setup_tenant(sandbox, size=60, seed=14)
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    (company,) = companies(914, 1)
    admin(sandbox, token, "POST", "/mutate", op="add", contact=company.model_dump(mode="json"))
    with db.session() as s:
        upsert_app_contacts(s, "t1", [("app-new", company.model_copy(update={"remote_id": None}))], updated_at=utcnow())
    sent_before = _reconcile_tasks_received(workers)
    run = full_sync(workers, full=False)
    assert run.status == "succeeded" and run.kind == "incremental", run.error
    assert run.created_remote == 0 and run.linked == 1
    assert _reconcile_tasks_received(workers) == sent_before
    with db.session() as s:
        method = s.scalar(
            select(Link.method)
            .join(AppContact, AppContact.id == Link.app_contact_id)
            .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
            .where(AppContact.app_id == "app-new", RemoteContact.name == company.name)
        )
        assert method in ("exact", "fuzzy")
        assert s.scalar(select(func.count()).select_from(RunPage).where(RunPage.run_id == run.id)) >= 1
        assert not s.scalar(select(func.count()).select_from(RunPage).where(~RunPage.reconciled))
    assert [c["name"] for c in platform_contacts(sandbox, token)].count(company.name) == 1


def _reconcile_tasks_received(workers: Workers) -> int:
    return sum(p.read_text().count("contactsync.reconcile[") for p in workers.log_dir.glob("worker*.log"))


def test_maesn_deletion_is_inferred_only_from_a_complete_full_walk(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    _split, token = setup_tenant(sandbox, size=60, seed=9, dialect="maesn")
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    with db.session() as s:
        victim = s.scalar(select(RemoteContact.remote_id).order_by(RemoteContact.id).limit(1))
    admin(sandbox, token, "POST", "/mutate", op="delete", id=victim)
    assert full_sync(workers, full=False).status == "succeeded"
    with db.session() as s:
        row = s.scalar(select(RemoteContact).where(RemoteContact.remote_id == victim))
        assert row is not None and not row.deleted  # an incremental walk proves nothing about absence
    assert full_sync(workers).status == "succeeded"
    with db.session() as s:
        row = s.scalar(select(RemoteContact).where(RemoteContact.remote_id == victim))
        assert row is not None and row.deleted
        assert s.scalar(select(func.count()).select_from(RemoteContact).where(RemoteContact.deleted)) == 1


def test_broken_records_are_quarantined_and_the_page_goes_on(
    env: dict[str, str], workers: Workers, sandbox: Any
) -> None:
    split, token = setup_tenant(sandbox, size=40, seed=12)
    admin(sandbox, token, "POST", "/mutate", op="broken", any={"id": None, "name": 42, "status": "HAPPY"})
    admin(sandbox, token, "POST", "/mutate", op="broken", any={"id": "x1", "name": "A" * 20000})
    # What PostgreSQL cannot store at all: taken in, either would fail the page's transaction on every retry.
    admin(sandbox, token, "POST", "/mutate", op="broken", any={"id": "x2", "name": "Nul\x00 GmbH"})
    admin(sandbox, token, "POST", "/mutate", op="broken", any={"id": "x" * 300, "name": "Long Id GmbH"})
    workers.start(1)
    run = full_sync(workers)
    assert run.status == "succeeded"
    assert run.quarantined == 4
    assert run.fetched == len(split.remote)
    with db.session() as s:
        stored = {
            reason: rid for reason, rid in s.execute(select(QuarantinedRecord.reason, QuarantinedRecord.remote_id))
        }
    assert len(stored) == 4 and all(stored)
    assert stored["name contains a NUL character"] == "x2"
    assert stored["id is 300 characters long (limit 255)"] is None


@pytest.mark.parametrize("dialect", ["merge", "maesn"])
def test_a_platform_that_ignores_the_time_filter_still_syncs_each_change_once(
    env: dict[str, str], workers: Workers, sandbox: Any, dialect: str
) -> None:
    """A platform that cannot filter by change time answers every incremental walk with the whole list. Each
    change on either side still arrives once, the contacts read again as they were write nothing, and nothing is
    created twice."""
    split, token = setup_tenant(sandbox, size=120, seed=67, dialect=dialect, faults={"ignore_time_filters": True})
    workers.start(1)
    assert full_sync(workers).status == "succeeded"
    books = len(platform_contacts(sandbox, token))
    (platform_side, _), (app_side_remote, app_side) = matched_pairs(2)
    phones = [{"number": "+49 30 5550100", "type": "work"}]
    admin(sandbox, token, "POST", "/mutate", op="edit", id=platform_side, changes={"phones": phones})
    edited = dict(split.app)[app_side].model_copy(update={"emails": ("changed@example.org",)})
    with db.session() as s:
        upsert_app_contacts(s, "t1", [(app_side, edited)], updated_at=utcnow())

    second = full_sync(workers, full=False)
    assert second.status == "succeeded", second.error
    assert second.fetched >= books  # the whole list, though only changes were asked for
    assert (second.updated_remote, second.updated_app, second.created_remote) == (1, 1, 0)
    with db.session() as s:
        taken = s.scalar(
            select(AppContact.data)
            .join(Link, Link.app_contact_id == AppContact.id)
            .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
            .where(RemoteContact.remote_id == platform_side)
        )
    assert taken is not None and [p["number"] for p in taken["phones"]] == ["+49 30 5550100"]
    rows = {r["remote_id"]: r for r in platform_contacts(sandbox, token)}
    assert rows[app_side_remote]["emails"] == ["changed@example.org"]

    third = full_sync(workers, full=False)
    assert (third.status, third.updated_remote, third.updated_app, third.created_remote) == ("succeeded", 0, 0, 0)
    assert len(platform_contacts(sandbox, token)) == books
