"""Maesn dialect contract tests against the sandbox over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contactsync.contact import CanonicalContact
from contactsync.providers.base import Window
from contactsync.providers.errors import AuthLost, NotFound, Permanent, RateLimited, Transient
from contactsync.providers.maesn_mapping import carried_by_maesn
from contactsync.providers.window import advance, next_window
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


@pytest.mark.parametrize("param", ["lastModified", "lastModifiedAt"])
def test_incremental_walk_sees_edits_adds_and_archivals(admin, connect, walk_all, param):
    token = admin.create_account(seed=22, count=40)
    provider = connect("maesn", token, modified_param=param, limit=10)
    contacts, _, top = walk_all(provider, Window())
    watermark = advance(None, top)
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


def test_rows_shifted_by_a_deletion_mid_walk_are_caught_by_a_rewalk(admin, connect):
    token = admin.create_account(seed=23, count=30)
    provider = connect("maesn", token, limit=5)
    seen: set[str] = set()
    page = provider.fetch_page(Window(), None)
    seen |= {c.remote_id for c in page.contacts}
    page = provider.fetch_page(Window(), page.next_token)
    seen |= {c.remote_id for c in page.contacts}
    admin.mutate(token, "delete", id=sorted(seen)[0])
    rewalked = False
    while page.next_token is not None:
        rewalked = rewalked or page.next_token["rewalks"] > 0
        page = provider.fetch_page(Window(), page.next_token)
        seen |= {c.remote_id for c in page.contacts}
    assert rewalked
    assert set(_platform(admin, token)) <= seen


def test_a_list_that_keeps_changing_fails_the_walk(admin, connect):
    token = admin.create_account(seed=24, count=12)
    provider = connect("maesn", token, limit=5, max_rewalks=1)
    page = provider.fetch_page(Window(), None)
    with pytest.raises(Transient):
        while page.next_token is not None:
            admin.mutate(token, "add", contact=CanonicalContact(name=f"New {len(admin.contacts(token))} Ltd"))
            page = provider.fetch_page(Window(), page.next_token)


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("resources", ["contacts", "split"])
def test_create_get_search_update(admin, connect, resources, method):
    token = admin.create_account(seed=25, count=8)
    provider = connect("maesn", token, resources=resources, update_method=method)
    source = companies(321, 1)[0].model_copy(update={"is_customer": True, "is_supplier": True})
    created = provider.create(source)
    assert carried_by_maesn(created) == carried_by_maesn(source)
    assert carried_by_maesn(provider.get(created.remote_id)) == carried_by_maesn(source)
    assert [c.remote_id for c in provider.search(name=source.name)] == [created.remote_id]
    assert [c.remote_id for c in provider.search(email=source.emails[-1])] == [created.remote_id]
    updated = provider.update(created.remote_id, {"name": "Umbenannt AG", "status": "archived"})
    assert (updated.name, updated.status, updated.tax_number) == (
        "Umbenannt AG",
        "archived",
        source.tax_number,
    )
    assert updated.is_customer and updated.is_supplier
    assert updated.emails == source.emails
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
