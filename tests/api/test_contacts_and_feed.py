"""App contacts in (bulk upsert with the app's clock, per-record errors, delete = archive) and the changes feed's
numbering (no gap, no reordering, whatever transactions do)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.models import AppContact
from contactsync.store import changes
from contactsync.store.contacts import update_app_content
from tests.api.conftest import ok

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-02T00:00:00Z"


@pytest.fixture
def tenant(admin: httpx.Client) -> str:
    ok(admin.post("/v1/tenants", json={"id": "t1", "name": "T"}), 201)
    return "/v1/tenants/t1/contacts"


def test_upsert_applies_valid_records_and_reports_the_others(admin: httpx.Client, tenant: str) -> None:
    records = [
        {"id": "a1", "name": "Alpha GmbH", "emails": ["info@alpha.example"], "updated_at": T0},
        {"id": "a2", "name": "", "updated_at": T0},
        {"id": "a3", "name": "Gamma", "updated_at": T0, "addresses": [{"city": "Köln", "planet": "Mars"}]},
        {"id": "a4", "name": "Delta", "updated_at": "yesterday"},
        {"id": "a5", "name": "Epsilon\x00", "updated_at": T0},
        {"id": "a6", "name": "Zeta AG", "is_supplier": True, "updated_at": T0},
    ]
    result = ok(admin.put(tenant, json={"contacts": records}))
    assert (result["created"], result["changed"], result["unchanged"]) == (2, 0, 0)
    paths = {(e["id"], e["path"]) for e in result["errors"]}
    assert ("a2", "contacts[1].name") in paths
    assert ("a3", "contacts[2].addresses[0].planet") in paths
    assert ("a4", "contacts[3].updated_at") in paths
    assert {e["id"] for e in result["errors"]} == {"a2", "a3", "a4", "a5"}
    assert ok(admin.get(f"{tenant}/a1"))["contact"]["emails"] == ["info@alpha.example"]
    assert admin.get(f"{tenant}/a2").status_code == 404
    assert admin.put(tenant, json={"contacts": [{"id": "x", "name": "x", "updated_at": T0}] * 5001}).status_code == 422


def test_stale_and_replayed_upserts_change_nothing(admin: httpx.Client, tenant: str) -> None:
    newer = {"id": "a1", "name": "Alpha New", "updated_at": T1}
    older = {"id": "a1", "name": "Alpha Old", "updated_at": T0}
    assert ok(admin.put(tenant, json={"contacts": [newer]}))["created"] == 1
    assert ok(admin.put(tenant, json={"contacts": [newer]}))["unchanged"] == 1  # replayed
    assert ok(admin.put(tenant, json={"contacts": [older]}))["unchanged"] == 1  # arrived late
    assert ok(admin.get(f"{tenant}/a1"))["contact"]["name"] == "Alpha New"
    # Within one request the newest copy of a record wins, whatever the order.
    later = {"id": "a1", "name": "Alpha Latest", "updated_at": "2026-01-03T00:00:00Z"}
    assert ok(admin.put(tenant, json={"contacts": [later, older]}))["changed"] == 1
    assert ok(admin.get(f"{tenant}/a1"))["contact"]["name"] == "Alpha Latest"


def test_an_edit_based_on_the_platform_value_wins_a_stale_copy_does_not(admin: httpx.Client, tenant: str) -> None:
    """The app reads (or gets from the feed) the `version` the platform's value made and sends it back as
    `base_version`: setting the field back to a value it stated before is then its user's edit."""
    ok(admin.put(tenant, json={"contacts": [{"id": "a1", "name": "Alpha", "currency": "EUR", "updated_at": T0}]}))
    with db.session() as s:  # the platform's GBP reaches the app contact, as planning takes it in
        row = s.scalar(select(AppContact).where(AppContact.app_id == "a1"))
        assert row is not None
        update_app_content(s, row, {**row.data, "currency": "GBP"})
    seen = ok(admin.get(f"{tenant}/a1"))
    assert seen["contact"]["currency"] == "GBP"
    stale = {"id": "a1", "name": "Alpha", "currency": "EUR", "updated_at": T1, "base_version": seen["version"] - 1}
    assert ok(admin.put(tenant, json={"contacts": [stale]}))["unchanged"] == 1
    edit = {**stale, "updated_at": "2026-01-03T00:00:00Z", "base_version": seen["version"]}
    assert ok(admin.put(tenant, json={"contacts": [edit]}))["changed"] == 1
    after = ok(admin.get(f"{tenant}/a1"))
    assert after["contact"]["currency"] == "EUR" and after["version"] == seen["version"] + 1
    bad = {**edit, "updated_at": "2026-01-04T00:00:00Z", "base_version": -1}
    assert ok(admin.put(tenant, json={"contacts": [bad]}))["errors"][0]["path"] == "contacts[0].base_version"


def test_delete_archives_and_is_repeatable(admin: httpx.Client, tenant: str) -> None:
    ok(admin.put(tenant, json={"contacts": [{"id": "a1", "name": "Alpha", "updated_at": T0}]}))
    gone = ok(admin.delete(f"{tenant}/a1"))
    assert gone["deleted"] is True and gone["contact"]["status"] == "archived"
    assert ok(admin.delete(f"{tenant}/a1")) == gone
    assert admin.delete(f"{tenant}/nobody").status_code == 404


def test_feed_numbers_are_never_seen_out_of_order_or_with_gaps(env: dict[str, str]) -> None:
    """A transaction that took number 1 and has not committed holds back number 2, so a reader can never see 2
    and later find 1 appear behind its cursor; a rolled-back transaction gives its number back."""
    item = {"kind": "linked", "app_id": "a", "remote_id": "r", "data": {}}
    with pytest.raises(RuntimeError), db.session() as s:
        changes.record(s, "t1", [item])
        raise RuntimeError("roll back")
    first_in = threading.Event()
    release = threading.Event()

    def slow_writer() -> None:
        with db.session() as s:
            changes.record(s, "t1", [{**item, "app_id": "slow"}])
            changes.flush(s)  # what commit does first: the number is taken, the commit is still to come
            first_in.set()
            release.wait(30)

    def fast_writer() -> None:
        with db.session() as s:
            changes.record(s, "t1", [{**item, "app_id": "fast"}])

    slow = threading.Thread(target=slow_writer)
    slow.start()
    assert first_in.wait(30)
    fast = threading.Thread(target=fast_writer)
    fast.start()
    time.sleep(0.5)  # room for the fast writer to commit, if anything let it
    with db.session() as s:
        assert changes.read(s, "t1", 0, 10) == []
    release.set()
    slow.join(30)
    fast.join(30)
    with db.session() as s:
        seen = [(c.seq, c.app_id) for c in changes.read(s, "t1", 0, 10)]
    assert seen == [(1, "slow"), (2, "fast")]
