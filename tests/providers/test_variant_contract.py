"""Both dialects against sandbox accounts that answer the way other real servers do, end to end over HTTP.

Each variant must leave the result of a walk and of writes exactly as it is against the documented shapes:
every live contact once, with the content the platform holds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from contactsync.contact import CanonicalContact
from contactsync.providers.base import Window
from contactsync.providers.maesn_mapping import carried_by_maesn
from contactsync.providers.merge_mapping import carried_by_merge
from contactsync.providers.window import advance_watermark, next_window
from contactsync.sandbox.seed import companies

MERGE_VARIANTS = {
    "next-url": {"merge_next": "url"},
    "lazy-next-results-omitted": {"merge_lazy_next": True, "merge_empty_results": "omit"},
    "lazy-next-results-null": {"merge_lazy_next": True, "merge_empty_results": "null"},
    "page-cap": {"merge_page_cap": 7},
    "seconds": {"merge_time": "seconds"},
    "offset": {"merge_time": "offset"},
    "lower-case-string-phones-alpha3": {"merge_case": "lower", "merge_phones": "strings", "merge_country": "alpha3"},
    "long-phone-keys-country-names-sparse": {
        "merge_phones": "long_keys",
        "merge_country": "name",
        "merge_sparse": True,
    },
}


def _platform(admin, token):
    return {
        r["remote_id"]: CanonicalContact.model_validate({k: v for k, v in r.items() if k != "remote_id"})
        for r in admin.contacts(token)
        if not r["deleted"]
    }


@pytest.mark.parametrize("variant", list(MERGE_VARIANTS.values()), ids=list(MERGE_VARIANTS))
def test_merge_walks_and_writes_are_unchanged_by_the_variant(admin, connect, walk_all, variant):
    token = admin.create_account(seed=41, count=40, variant=variant)  # 4 full pages: lazy next ends on an empty one
    provider = connect("merge", token, page_size=10)
    contacts, quarantined, top = walk_all(provider, Window())
    assert quarantined == []
    platform = _platform(admin, token)
    assert sorted(c.remote_id for c in contacts) == sorted(platform)
    for contact in contacts:
        expected = carried_by_merge(platform[contact.remote_id])
        if variant.get("merge_phones") == "strings":  # strings carry no type: that much is lost on that server
            expected["phones"] = [{**p, "type": None} for p in expected["phones"]]
        assert carried_by_merge(contact) == expected
    watermark = advance_watermark(None, top)
    edited = contacts[3].remote_id
    admin.mutate(token, "edit", id=edited, changes={"name": "Edited On The Platform GmbH"})
    changed, _, _ = walk_all(provider, next_window(watermark, timedelta(seconds=1)))
    assert "Edited On The Platform GmbH" in {c.name for c in changed}
    created = provider.create(CanonicalContact(name="Created Through A Variant Ltd", emails=("v@example.org",)))
    assert created.remote_id in _platform(admin, token) and created.emails == ("v@example.org",)
    updated = provider.update(created.remote_id, {"status": "archived"})
    assert updated.status == "archived" and updated.name == "Created Through A Variant Ltd"


def test_merge_patch_answered_204_is_read_back(admin, connect):
    token = admin.create_account(seed=42, count=2, variant={"merge_patch": "no_content", "merge_create_status": 200})
    provider = connect("merge", token)
    created = provider.create(CanonicalContact(name="Quiet Server AG"))
    before = admin.stats(token)["requests"].get("GET /api/accounting/v1/contacts/{id}", 0)
    assert provider.update(created.remote_id, {"currency": "CHF"}).currency == "CHF"
    assert admin.stats(token)["requests"]["GET /api/accounting/v1/contacts/{id}"] == before + 1


MAESN_VARIANTS = {
    "bare-list-no-pagination": {"maesn_envelope": "bare", "maesn_pagination": "none"},
    "data-items-counts": {"maesn_envelope": "items", "maesn_pagination": "counts"},
    "data-content-spring": {"maesn_envelope": "content", "maesn_pagination": "spring"},
    "records-zero-based": {"maesn_envelope": "records", "maesn_pagination": "zero_based"},
    "documented-zero-based": {"maesn_pagination": "zero_based"},
    "v2-fields-no-pagination": {"maesn_fields": "v2", "maesn_pagination": "none"},
}


@pytest.mark.parametrize("resources", ["contacts", "split"])
@pytest.mark.parametrize("variant", list(MAESN_VARIANTS.values()), ids=list(MAESN_VARIANTS))
def test_maesn_walks_are_unchanged_by_the_variant(admin, connect, walk_all, variant, resources):
    token = admin.create_account(seed=43, count=33, deleted_count=2, variant=variant)
    provider = connect("maesn", token, limit=5, resources=resources)
    contacts, quarantined, top = walk_all(provider, Window())
    assert quarantined == []
    platform = _platform(admin, token)
    ids = [c.remote_id for c in contacts]
    assert sorted(ids) == sorted(platform) and len(ids) == 31
    for contact in contacts:
        expected = carried_by_maesn(platform[contact.remote_id])
        if variant.get("maesn_fields") == "v2":  # bare phone strings carry no type
            expected["phones"] = [{**p, "type": "BUSINESS"} for p in expected["phones"]]
        assert carried_by_maesn(contact) == expected
    watermark = advance_watermark(None, top)
    admin.mutate(token, "edit", id=ids[0], changes={"name": "Edited On The Platform GmbH"})
    changed, _, _ = walk_all(provider, next_window(watermark, timedelta(seconds=1)))
    assert "Edited On The Platform GmbH" in {c.name for c in changed}
    assert len(changed) < 31


@pytest.mark.parametrize("create", ["bare", "id", "location", "task"])
def test_maesn_create_answer_variants_yield_the_created_contact(admin, connect, create):
    token = admin.create_account(seed=44, count=3, variant={"maesn_create": create, "maesn_update": "no_content"})
    provider = connect("maesn", token)
    contact = companies(9, 1)[0].model_copy(update={"name": "Variant Created GmbH"})
    created = provider.create(contact)
    platform = _platform(admin, token)
    assert created.remote_id in platform and created.name == "Variant Created GmbH"
    assert carried_by_maesn(created) == carried_by_maesn(platform[created.remote_id])
    assert admin.stats(token)["creates"] == 1
    if create == "task":
        assert admin.stats(token)["requests"]["GET /asyncTask/{id}"] == 2
    updated = provider.update(created.remote_id, {"emails": ["variant@example.org"]})
    assert updated.emails == ("variant@example.org",)


def test_sandbox_refuses_unknown_variants(admin):
    with pytest.raises(RuntimeError, match="unknown variant key"):
        admin.create_account(variant={"maesn_envelop": "bare"})
    with pytest.raises(RuntimeError, match="must be one of"):
        admin.create_account(variant={"maesn_envelope": "xml"})
    for ttl in (0, -1, True, "5"):
        with pytest.raises(RuntimeError, match="positive number of seconds"):
            admin.create_account(variant={"merge_cursor_ttl": ttl})
