"""Maesn dialect contract tests against the sandbox over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contactsync.contact import CanonicalContact
from contactsync.providers.base import NotesInMemory, Window
from contactsync.providers.errors import AuthLost, NotFound, Permanent, RateLimited, Transient, WalkIncomplete
from contactsync.providers.maesn_mapping import carried_by_maesn, writable_view
from contactsync.providers.window import advance_watermark, next_window
from contactsync.sandbox.seed import companies


def _platform(admin, token, *, live_only=True):
    rows = admin.contacts(token)
    return {
        r["remote_id"]: CanonicalContact.model_validate({k: v for k, v in r.items() if k != "remote_id"})
        for r in rows
        if not (live_only and r["deleted"])
    }


@pytest.mark.parametrize("resources", ["contacts", "split"])
def test_full_walk_sees_every_live_contact_once_with_its_roles(admin, connect, walk_all, resources):
    token = admin.create_account(seed=21, count=120, deleted_count=4)
    provider = connect("maesn", token, resources=resources, limit=20)
    contacts, quarantined, top = walk_all(provider, Window())
    assert quarantined == []
    ids = [c.remote_id for c in contacts]
    assert len(ids) == len(set(ids))
    platform = _platform(admin, token)
    assert set(ids) == set(platform) and len(ids) == 116
    for contact in contacts:
        assert carried_by_maesn(contact) == carried_by_maesn(platform[contact.remote_id])
    assert top is not None


def _roles(contacts):
    return sorted((c.remote_id, c.is_customer, c.is_supplier) for c in contacts)


def test_a_split_walk_given_notes_keeps_its_supplier_ids_there_not_in_its_token(admin, connect, walk_all):
    # The token is written after every page: a supplier list in it cost its size once per page (quadratic in
    # the tenant). With notes the token stays the same size whatever the tenant; the roles come out the same.
    token = admin.create_account(seed=21, count=120, deleted_count=4)
    expected, _, _ = walk_all(connect("maesn", token, resources="split", limit=20), Window())
    provider = connect("maesn", token, resources="split", limit=20)
    notes = NotesInMemory()
    seen = []
    page = provider.fetch_page(Window(), None, None, notes)
    while True:
        seen += page.contacts
        if page.next_token is None:
            break
        assert page.next_token["notes"] is True
        assert page.next_token["suppliers"] == [] and page.next_token["both"] == []
        page = provider.fetch_page(Window(), page.next_token, None, notes)
    assert _roles(seen) == _roles(expected)
    assert any(c.is_customer and c.is_supplier for c in seen) and notes.lists["both"]
    assert len(notes.lists["suppliers"]) == sum(1 for c in expected if c.is_supplier)


def test_a_walk_begun_with_notes_and_resumed_without_them_starts_again(admin, connect):
    token = admin.create_account(seed=21, count=60)
    provider = connect("maesn", token, resources="split", limit=10)
    notes = NotesInMemory()
    page = provider.fetch_page(Window(), None, None, notes)
    page = provider.fetch_page(Window(), page.next_token, None, notes)
    assert notes.lists["suppliers"]
    again = provider.fetch_page(Window(), page.next_token)  # the notes are not at hand: walk again, from the start
    assert again.next_token is not None and again.next_token["notes"] is False
    assert again.next_token["phase"] == 0 and again.next_token["suppliers"]  # the supplier scan, kept in the token


@pytest.mark.parametrize("param", ["lastModified", "lastModifiedAt"])
def test_incremental_walk_sees_edits_adds_and_archivals(admin, connect, walk_all, param):
    token = admin.create_account(seed=22, count=40)
    provider = connect("maesn", token, modified_param=param, limit=10)
    contacts, _, top = walk_all(provider, Window())
    watermark = advance_watermark(None, top)
    ids = [c.remote_id for c in contacts]
    admin.mutate(token, "edit", id=ids[0], changes={"emails": ["new@example.org", "second@example.org"]})
    admin.mutate(token, "archive", id=ids[1])
    admin.mutate(token, "delete", id=ids[2])
    added = admin.mutate(token, "add", contact=companies(5, 1)[0])
    changed, _, _ = walk_all(provider, next_window(watermark, timedelta(seconds=1)))
    by_id = {c.remote_id: c for c in changed}
    assert by_id[ids[0]].emails == ("new@example.org", "second@example.org")
    assert by_id[ids[1]].status == "archived"
    assert added["remote_id"] in by_id
    assert ids[2] not in by_id  # Maesn has no deleted flag; only a full walk tells
    assert len(changed) < 10  # the changes and the look-back overlap, not the whole book
    full, _, _ = walk_all(provider, Window())
    assert ids[2] not in {c.remote_id for c in full} and len(full) == 40


@pytest.mark.parametrize("order", ["updated", "created"])
def test_rows_shifted_by_a_deletion_mid_walk_are_still_read(admin, connect, order):
    token = admin.create_account(seed=23, count=30, variant={"maesn_order": order})
    provider = connect("maesn", token, limit=5)
    seen: set[str] = set()
    page = provider.fetch_page(Window(), None)
    seen |= {c.remote_id for c in page.contacts}
    page = provider.fetch_page(Window(), page.next_token)
    seen |= {c.remote_id for c in page.contacts}
    admin.mutate(token, "delete", id=sorted(seen)[0])
    admin.mutate(token, "edit", id=sorted(seen)[1], changes={"emails": ["moved@example.org"]})
    went_back = 0
    while page.next_token is not None:
        page = provider.fetch_page(Window(), page.next_token)
        seen |= {c.remote_id for c in page.contacts}
        went_back += page.restarted
    assert set(_platform(admin, token)) <= seen
    assert page.infer_deletions is False  # the walk saw the platform change: absences prove nothing
    # By page number (creation order) the shifted rows are read again, and the page that went back says so (the
    # run counts it); by change time the walk steps on from where it was, over nothing it read before.
    assert went_back == (1 if order == "created" else 0)


def test_a_list_that_keeps_moving_under_page_numbers_fails_the_walk_with_a_reason(admin, connect):
    # Creation order, and an old contact edited: the list is not in change-time order, so page numbers with drift
    # detection, and a bounded number of passes before the walk gives up (not a retry that can never succeed).
    token = admin.create_account(seed=24, count=12, variant={"maesn_order": "created"})
    first = admin.contacts(token)[0]["remote_id"]
    admin.mutate(token, "edit", id=first, changes={"emails": ["edited@example.org"]})
    provider = connect("maesn", token, limit=5, max_passes=2)
    page = provider.fetch_page(Window(), None)
    assert page.next_token["list"]["mode"] == "pages"
    with pytest.raises(WalkIncomplete, match="kept changing"):
        for n in range(40):
            live = [r["remote_id"] for r in admin.contacts(token) if not r["deleted"]]
            admin.mutate(token, "delete", id=live[0])  # every read page shifts the rest up one place
            admin.mutate(token, "add", contact=CanonicalContact(name=f"Replacement {n} Ltd"))
            page = provider.fetch_page(Window(), page.next_token)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize(("resources", "version"), [("contacts", "v1"), ("split", "v1"), ("contacts", "v2")])
def test_create_get_search_update(admin, connect, resources, version, method):
    token = admin.create_account(seed=25, count=8, variant={"maesn_strict": True})
    provider = connect("maesn", token, resources=resources, update_method=method, api_version=version)
    source = companies(321, 1)[0].model_copy(update={"is_customer": True, "is_supplier": version == "v2"})
    created = provider.create(source)
    # Only what the version's write schema documents reaches the platform (the strict double refuses the rest).
    roles = resources == "split" or version == "v2"
    expected = writable_view(carried_by_maesn(source), version, roles=roles)
    assert writable_view(carried_by_maesn(created), version, roles=roles) == expected
    assert writable_view(carried_by_maesn(provider.get(created.remote_id)), version, roles=roles) == expected
    assert [c.remote_id for c in provider.search(name=source.name)] == [created.remote_id]
    assert [c.remote_id for c in provider.search(email=source.emails[-1])] == [created.remote_id]
    updated = provider.update(created.remote_id, {"name": "Umbenannt AG", "status": "archived"})
    # No version documents a status on writes: the rename goes out, the archival stays as the platform has it.
    assert (updated.name, updated.status) == ("Umbenannt AG", "active")
    assert updated.tax_number == (source.tax_number if version == "v1" else None)
    assert updated.emails == source.emails
    assert provider.update(created.remote_id, {"currency": "CHF"}).currency is None
    assert admin.stats(token)["creates"] == 1
    with pytest.raises(NotFound):
        provider.get("no-such-id")


def test_company_id_is_sent_when_configured(admin, connect):
    token = admin.create_account(seed=26, count=3, company_id="c-42")
    with pytest.raises(Permanent) as refused:
        connect("maesn", token).fetch_page(Window(), None)
    assert "companyId" in str(refused.value.details)
    page = connect("maesn", token, company_id="c-42", environment_name="Production").fetch_page(Window(), None)
    assert len(page.contacts) == 3


def test_error_types(admin, connect):
    token = admin.create_account(seed=27, count=3, rate_limit_per_minute=3, rate_limit_headers="xero")
    provider = connect("maesn", token)
    provider.fetch_page(Window(), None)
    with pytest.raises(Permanent):
        provider.create(CanonicalContact(name="x").model_copy(update={"name": ""}))
    provider.fetch_page(Window(), None)
    with pytest.raises(RateLimited) as limited:
        provider.fetch_page(Window(), None)
    assert limited.value.retry_after >= 1
    admin.configure(token, rate_limit_per_minute=None, faults={"error_rate": 1.0})
    with pytest.raises(Transient):
        provider.fetch_page(Window(), None)
    admin.configure(token, faults={"error_rate": 0.0}, api_key="another")
    with pytest.raises(AuthLost):
        provider.fetch_page(Window(), None)
