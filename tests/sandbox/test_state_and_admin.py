"""The sandbox's books and its admin API, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from contactsync.contact import CanonicalContact
from contactsync.sandbox import run_in_thread
from contactsync.sandbox.state import SandboxState


def test_the_provider_clock_is_strictly_increasing_per_account(admin):
    token = admin.create_account(count=300, seed_age_s=0.001)
    stamps = [c["modified_at"] for c in admin.contacts(token)]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    ids = [c["remote_id"] for c in admin.contacts(token)]
    edited = [admin.mutate(token, "edit", id=i, changes={"currency": "CHF"})["modified_at"] for i in ids[:50]]
    assert edited == sorted(edited) and len(set(edited)) == 50 and edited[0] > stamps[-1]


def test_stats_count_live_contacts_duplicates_and_requests(admin):
    token = admin.create_account(
        count=5,
        contacts=[
            {"name": "Twin Ltd", "tax_number": "GB980780684"},
            {"name": "twin ltd ", "tax_number": "GB980780684"},
        ],
        deleted_count=1,
    )
    stats = admin.stats(token)
    assert stats["contacts"] == 6
    assert stats["duplicate_names"] == 1 and stats["duplicate_tax_numbers"] == 1
    assert stats["requests"] == {} and stats["rate_limited"] == 0 and stats["creates"] == 0
    deleted = [c for c in admin.contacts(token) if c["deleted"]]
    assert len(deleted) == 1 and len(admin.contacts(token)) == 7


def test_recreating_an_account_replaces_it_and_bad_specs_are_refused(admin):
    token = admin.create_account(count=5)
    admin.create_account(token, count=2)
    assert admin.stats(token)["contacts"] == 2
    with pytest.raises(RuntimeError, match="400"):
        admin.create_account(token, faults={"no_such_fault": 1})
    with pytest.raises(RuntimeError, match="400"):
        admin.mutate(token, "explode")
    with pytest.raises(RuntimeError, match="404"):
        admin.mutate(token, "edit", id="missing", changes={})
    with pytest.raises(RuntimeError, match="404"):
        admin.stats("no-such-account")


def test_unique_names_refuse_a_duplicate_through_either_dialect(admin, api):
    token = admin.create_account(count=0, contacts=[{"name": "Acme Ltd"}], unique_names=True)
    with pytest.raises(RuntimeError, match="6240"):
        admin.mutate(token, "add", contact={"name": "ACME LTD"})
    merge = api.post(
        "/api/accounting/v1/contacts",
        json={"model": {"name": "acme ltd"}},
        headers={"Authorization": "Bearer k", "X-Account-Token": token},
    )
    assert merge.status_code == 400 and "6240" in merge.json()["errors"][0]["detail"]
    maesn = api.post(
        "/accounting/customers",
        json={"companyName": "Acme Ltd"},
        headers={"X-API-KEY": "k", "X-ACCOUNT-KEY": token},
    )
    assert maesn.status_code == 400 and "6240" in maesn.text
    assert admin.stats(token)["contacts"] == 1


def test_auth_is_checked_per_dialect(admin, api):
    token = admin.create_account(count=1)
    assert api.get("/api/accounting/v1/contacts", headers={"X-Account-Token": token}).status_code == 401
    assert api.get("/api/accounting/v1/contacts", headers={"Authorization": "Bearer k"}).status_code == 401
    assert api.get("/accounting/contacts", headers={"X-ACCOUNT-KEY": token}).status_code == 401
    ok = api.get("/accounting/contacts", headers={"X-API-KEY": "k", "X-ACCOUNT-KEY": token})
    assert ok.status_code == 200 and ok.json()["meta"]["pagination"]["total"] == 1
    assert (
        api.get("/accounting/contacts?limit=7", headers={"X-API-KEY": "k", "X-ACCOUNT-KEY": token}).status_code == 400
    )


def test_run_in_thread_serves_on_a_free_port_and_stops():
    with run_in_thread() as handle:
        assert handle.url.startswith("http://127.0.0.1:") and handle.port > 0
        assert httpx.get(handle.url + "/_sandbox/health").json() == {"ok": True}
    with pytest.raises(httpx.ConnectError):
        httpx.get(handle.url + "/_sandbox/health", timeout=1.0)


def test_a_cursor_lists_from_where_it_points_with_contacts_in_their_lag_left_out() -> None:
    account = SandboxState().create_account({"token": "lag", "count": 40, "faults": {"visibility_lag_ms": 60_000}})
    lagging = account.mutate_add(CanonicalContact(name="Just Created Ltd"), via_api=True)
    account.mutate_add(CanonicalContact(name="Seeded Later Ltd"))
    every = account.ordered()
    assert [s.seq for s in every] == sorted(s.seq for s in every)
    for cursor in (0, 1, 17, 40, 41, 42, 99):
        listed = list(account.listed_after(cursor))
        assert listed == [s for s in every if s.seq > cursor and s is not lagging]
    assert lagging not in account.listed() and len(account.listed()) == 41
    # Listing keeps the order between calls; a contact added since is listed, an edit keeps its place.
    added = account.mutate_add(CanonicalContact(name="Added Since Ltd"))
    account.mutate_edit(every[0].id, {"currency": "CHF"})
    assert list(account.listed_after(41)) == [every[-1], added]
    assert account.ordered() == [*every, added]
