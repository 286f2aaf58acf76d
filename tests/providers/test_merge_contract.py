"""Merge dialect contract tests against the sandbox over real HTTP."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from contactsync.contact import CanonicalContact
from contactsync.providers.base import Window
from contactsync.providers.errors import AuthLost, NotFound, Permanent, RateLimited, Transient
from contactsync.providers.merge_mapping import carried_by_merge
from contactsync.providers.window import advance_watermark, next_window
from contactsync.sandbox.seed import companies


def test_full_walk_returns_every_contact_once_with_json_tokens(admin, connect, walk_all):
    token = admin.create_account(seed=3, count=230)
    provider = connect("merge", token, page_size=100)
    pages = []
    page_token = None
    while True:
        page = provider.fetch_page(Window(), page_token)
        pages.append(page)
        page_token = page.next_token
        if page_token is None:
            break
        assert json.loads(json.dumps(page_token)) == page_token
    assert [len(p.contacts) for p in pages] == [100, 100, 30]
    seen = {c.remote_id: c for p in pages for c in p.contacts}
    assert len(seen) == 230
    platform = {c["remote_id"]: c for c in admin.contacts(token)}
    assert set(seen) == set(platform)
    for remote_id, contact in seen.items():
        expected = CanonicalContact.model_validate({k: v for k, v in platform[remote_id].items() if k != "remote_id"})
        assert carried_by_merge(contact) == carried_by_merge(expected)
    assert provider.http.client.headers["user-agent"].startswith("contactsync/")


def test_incremental_walk_sees_edits_adds_deletes_and_archivals(admin, connect, walk_all):
    token = admin.create_account(seed=4, count=60)
    provider = connect("merge", token, page_size=25)
    contacts, _, top = walk_all(provider, Window())
    watermark = advance_watermark(None, top)
    ids = [c.remote_id for c in contacts]
    admin.mutate(token, "edit", id=ids[0], changes={"name": "Renamed GmbH"})
    admin.mutate(token, "delete", id=ids[1])
    admin.mutate(token, "archive", id=ids[2])
    added = admin.mutate(token, "add", contact=companies(99, 1)[0])
    changed, _, top2 = walk_all(provider, next_window(watermark, timedelta(seconds=1)))
    by_id = {c.remote_id: c for c in changed}
    assert by_id[ids[0]].name == "Renamed GmbH"
    assert by_id[ids[1]].deleted is True
    assert by_id[ids[2]].status == "archived"
    assert added["remote_id"] in by_id
    assert len(changed) < 10  # an incremental walk, not the whole book again
    assert advance_watermark(watermark, top2) > watermark


def test_lookback_catches_a_late_commit_that_lands_behind_the_watermark(admin, connect, walk_all):
    token = admin.create_account(seed=5, count=10)
    provider = connect("merge", token)
    contacts, _, top = walk_all(provider, Window())
    admin.mutate(token, "edit", id=contacts[0].remote_id, changes={"currency": "CHF"})
    _, _, recent = walk_all(provider, next_window(advance_watermark(None, top), timedelta(0)))
    watermark = advance_watermark(top, recent)
    late = admin.mutate(
        token, "edit", id=contacts[3].remote_id, changes={"tax_number": "DE811569869"}, backdate_ms=3000
    )
    assert late["modified_at"] < watermark.isoformat().replace("+00:00", "Z")
    without, _, _ = walk_all(provider, next_window(watermark, timedelta(0)))
    assert contacts[3].remote_id not in {c.remote_id for c in without}
    with_lookback, _, _ = walk_all(provider, next_window(watermark, timedelta(seconds=10)))
    assert contacts[3].remote_id in {c.remote_id for c in with_lookback}


def test_change_behind_the_cursor_during_a_walk_is_not_skipped_even_without_lookback(admin, connect, walk_all):
    token = admin.create_account(seed=6, count=30)
    provider = connect("merge", token, page_size=10)
    first = provider.fetch_page(Window(), None)
    behind = first.contacts[0].remote_id
    admin.mutate(token, "edit", id=behind, changes={"currency": "CHF"})
    second = provider.fetch_page(Window(), first.next_token)
    ahead = [c["remote_id"] for c in admin.contacts(token)][-1]
    # Stamped after the change behind the cursor, and seen by this walk: it must not drag the watermark past.
    admin.mutate(token, "edit", id=ahead, changes={"currency": "SEK"})
    third = provider.fetch_page(Window(), second.next_token)
    assert third.next_token is None
    assert ahead in {c.remote_id for c in third.contacts}
    watermark = advance_watermark(None, max(p.max_modified_at for p in (first, second, third)))
    changed, _, _ = walk_all(provider, next_window(watermark, timedelta(0)))
    assert behind in {c.remote_id for c in changed}


def test_create_get_search_and_partial_update(admin, connect):
    token = admin.create_account(seed=7, count=5)
    provider = connect("merge", token)
    source = companies(123, 1)[0]
    created = provider.create(source)
    assert created.remote_id and created.modified_at is not None
    assert carried_by_merge(created) == carried_by_merge(source)
    assert carried_by_merge(provider.get(created.remote_id)) == carried_by_merge(source)
    assert [c.remote_id for c in provider.search(name=source.name)] == [created.remote_id]
    assert [c.remote_id for c in provider.search(email=source.emails[0])] == [created.remote_id]
    assert provider.search(name="No Such Company Ltd") == []
    updated = provider.update(created.remote_id, {"name": "Neuer Name GmbH", "is_supplier": True})
    assert updated.name == "Neuer Name GmbH" and updated.is_supplier is True
    assert updated.tax_number == source.tax_number and updated.addresses == source.addresses
    assert updated.modified_at > created.modified_at
    assert admin.stats(token)["creates"] == 1


def test_sync_status_is_on_the_provider_clock(admin, connect):
    token = admin.create_account(seed=8, count=3)
    provider = connect("merge", token)
    finished = provider.sync_finished_at()
    newest = max(c["modified_at"] for c in admin.contacts(token))
    assert finished is not None and finished.isoformat().replace("+00:00", "Z") >= newest


def test_error_types(admin, connect):
    token = admin.create_account(seed=9, count=3, unique_names=True)
    provider = connect("merge", token)
    with pytest.raises(NotFound):
        provider.get("00000000-0000-0000-0000-000000000000")
    existing = admin.contacts(token)[0]["name"]
    with pytest.raises(Permanent) as refused:
        provider.create(CanonicalContact(name=existing))
    assert "6240" in json.dumps(refused.value.details)
    admin.configure(token, faults={"error_rate": 1.0})
    with pytest.raises(Transient) as failed:
        provider.get(admin.contacts(token)[0]["remote_id"])
    assert failed.value.status == 503
    admin.configure(token, faults={"error_rate": 0.0, "reset_rate": 1.0})
    with pytest.raises(Transient):
        provider.fetch_page(Window(), None)
    admin.configure(token, faults={"reset_rate": 0.0}, revoked=True)
    with pytest.raises(AuthLost):
        provider.fetch_page(Window(), None)
    admin.configure(token, revoked=False, api_key="the-right-key")
    with pytest.raises(AuthLost) as lost:
        provider.fetch_page(Window(), None)
    assert lost.value.status == 401


def test_rate_limit_raises_with_retry_after_and_is_counted(admin, connect):
    token = admin.create_account(seed=10, count=3, rate_limit_per_minute=2)
    provider = connect("merge", token)
    provider.fetch_page(Window(), None)
    provider.sync_finished_at()
    with pytest.raises(RateLimited) as limited:
        provider.fetch_page(Window(), None)
    assert 1 <= limited.value.retry_after <= 60
    admin.configure(token, rate_limit_headers="none")
    with pytest.raises(RateLimited) as defaulted:
        provider.fetch_page(Window(), None)
    assert defaulted.value.retry_after == 60.0
    assert admin.stats(token)["rate_limited"] == 2


def test_dropped_create_is_transient_committed_and_replayed_by_idempotency_key(admin, connect):
    token = admin.create_account(seed=11, count=2, idempotency=True, faults={"drop_after_commit_rate": 1.0})
    provider = connect("merge", token, idempotency=True)
    contact = companies(77, 1)[0]
    with pytest.raises(Transient):
        provider.create(contact, idempotency_key="op-1")
    assert admin.stats(token)["creates"] == 1
    assert len(provider.search(name=contact.name)) == 1
    admin.configure(token, faults={"drop_after_commit_rate": 0.0})
    replayed = provider.create(contact, idempotency_key="op-1")
    assert admin.stats(token)["creates"] == 1
    assert replayed.remote_id == provider.search(name=contact.name)[0].remote_id
    with pytest.raises(Permanent):
        provider.create(contact.model_copy(update={"name": "Other GmbH"}), idempotency_key="op-1")


def test_throttle_is_called_before_every_request(sandbox, admin):
    from contactsync.providers.base import ConnectionConfig
    from contactsync.providers.merge import MergeProvider

    token = admin.create_account(seed=12, count=3)
    calls = []
    config = ConnectionConfig("merge", f"{sandbox.url}/api/accounting/v1", "key", token)
    provider = MergeProvider(config, throttle=lambda: calls.append(1))
    provider.fetch_page(Window(), None)
    provider.sync_finished_at()
    provider.close()
    assert len(calls) == 2


def test_latency_beyond_the_read_timeout_is_transient(sandbox, admin):
    from contactsync.providers.base import ConnectionConfig
    from contactsync.providers.merge import MergeProvider

    token = admin.create_account(seed=13, count=2, faults={"latency_ms": 600})
    config = ConnectionConfig("merge", f"{sandbox.url}/api/accounting/v1", "key", token, timeout_seconds=0.2)
    provider = MergeProvider(config)
    with pytest.raises(Transient, match="timed out"):
        provider.fetch_page(Window(), None)
    admin.configure(token, faults={"latency_ms": 50})
    assert len(provider.fetch_page(Window(), None).contacts) == 2
    provider.close()


def test_a_refused_cursor_starts_the_walk_again_from_its_first_page(admin, connect):
    """A walk resumed after its cursor expired (a crash, or a retry's wait, in between) reads the whole list again
    instead of failing: every contact is seen, and the walk keeps its parameters."""
    token = admin.create_account(seed=8, count=25, variant={"merge_cursor_ttl": 0.3})
    provider = connect("merge", token, page_size=10)
    first = provider.fetch_page(Window(), None)
    time.sleep(0.5)  # the first page's cursor expires
    again = provider.fetch_page(Window(), first.next_token)
    assert [c.remote_id for c in again.contacts] == [c.remote_id for c in first.contacts]
    assert again.next_token is not None and again.next_token["restarts"] == 1
    assert again.next_token["params"] == first.next_token["params"]
    assert again.restarted and not first.restarted  # the page that went back says so, for the run to count
    seen = [c.remote_id for c in again.contacts]
    page_token = again.next_token
    while page_token is not None:
        page = provider.fetch_page(Window(), page_token)
        assert not page.restarted  # the later pages' cursors were fresh
        seen += [c.remote_id for c in page.contacts]
        page_token = page.next_token
    assert sorted(seen) == sorted(c["remote_id"] for c in admin.contacts(token))


def test_a_server_that_refuses_every_cursor_ends_the_walk_with_the_reason(admin, connect):
    token = admin.create_account(seed=9, count=25, variant={"merge_cursor_ttl": 1e-6})
    provider = connect("merge", token, page_size=10)
    page_token = provider.fetch_page(Window(), None).next_token
    restarted = 0
    with pytest.raises(Permanent, match="started again from its first page"):
        while page_token is not None:
            page_token = provider.fetch_page(Window(), page_token).next_token
            restarted += 1
    assert restarted == 5  # each fetch after the first restarted the walk; the sixth refusal ends it
