"""What a connection can write, by dialect and options: the fields that must agree on both sides after a sync."""

from __future__ import annotations

import json

import httpx
import pytest

from contactsync.contact import SYNCED_FIELDS
from contactsync.providers.maesn_mapping import to_maesn
from contactsync.providers.options import OptionsError
from contactsync.providers.registry import check_options, written_fields


def test_merge_writes_every_synced_field() -> None:
    assert written_fields("merge", {}) == frozenset(SYNCED_FIELDS)


def test_maesn_v1_updates_write_neither_roles_nor_status_nor_currency() -> None:
    written = written_fields("maesn", {})
    assert written == {"name", "emails", "tax_number", "phones", "addresses"}
    # Split: a create says the roles through its list, an update cannot change them
    assert written_fields("maesn", {"resources": "split"}) == written


def test_maesn_v2_writes_roles_and_no_tax_id() -> None:
    assert written_fields("maesn", {"api_version": "v2"}) == {
        "name", "emails", "phones", "addresses", "is_customer", "is_supplier"
    }  # fmt: skip


def test_what_maesn_is_said_to_write_is_what_its_write_body_holds() -> None:
    everything = {
        "name": "Acme GmbH", "is_customer": True, "is_supplier": False, "emails": ["a@acme.example"],
        "tax_number": "DE123456789", "phones": [{"number": "+49301234567", "type": "work"}],
        "addresses": [{"street_1": "Hauptstr. 1", "city": "Berlin", "country": "DE", "type": "billing"}],
        "status": "active", "currency": "EUR",
    }  # fmt: skip
    for version in ("v1", "v2"):
        for field in SYNCED_FIELDS:
            alone = to_maesn({field: everything[field]}, version=version)
            assert bool(alone) == (field in written_fields("maesn", {"api_version": version})), (version, field)


def test_read_only_fields_are_taken_from_what_either_dialect_writes() -> None:
    roles = {"is_customer", "is_supplier"}
    assert written_fields("merge", {"read_only_fields": sorted(roles)}) == frozenset(SYNCED_FIELDS) - roles
    v2 = {"api_version": "v2"}
    assert written_fields("maesn", {**v2, "read_only_fields": ["is_customer"]}) == written_fields("maesn", v2) - {
        "is_customer"
    }


def test_read_only_fields_are_checked_where_they_are_set() -> None:
    # The CLI's `--option read_only_fields=is_customer,is_supplier` arrives as one string.
    given = check_options("merge", {"read_only_fields": " is_supplier, is_customer"})
    assert given.read_only_fields == ("is_customer", "is_supplier")
    with pytest.raises(OptionsError, match=r"read_only_fields.*vat_id not among the synced fields"):
        check_options("maesn", {"read_only_fields": ["vat_id"]})


@pytest.mark.parametrize(("dialect", "options", "keys"), [
    ("merge", {}, ("is_customer", "is_supplier")),
    ("maesn", {"api_version": "v2"}, ("isCustomer", "isSupplier")),
])  # fmt: skip
def test_a_create_leaves_out_the_fields_the_platform_keeps_for_itself(sandbox, admin, dialect, options, keys):
    """`read_only_fields` are never sent: not in updates (planning), and not in creates either, where a platform
    that refuses a write of a field it computes would refuse the whole contact."""
    from contactsync.providers.registry import open_provider
    from contactsync.sandbox.seed import companies
    from tests.providers.conftest import maesn_config, merge_config

    config_of = merge_config if dialect == "merge" else maesn_config
    contact = companies(61, 1)[0].model_copy(update={"is_customer": True, "is_supplier": True})
    bodies: list[dict[str, object]] = []

    def note(request: httpx.Request) -> None:
        if request.method == "POST":
            body = json.loads(request.content)
            bodies.append(body.get("model", body))

    for read_only, sent in ((["is_customer", "is_supplier"], False), (None, True)):
        token = admin.create_account()
        bodies.clear()
        with_option = {**options, **({"read_only_fields": read_only} if read_only else {})}
        provider = open_provider(config_of(sandbox, token, **with_option), on_request=note)
        try:
            created = provider.create(contact)
        finally:
            provider.close()
        assert len(bodies) == 1 and all((key in bodies[0]) is sent for key in keys), (read_only, bodies)
        assert created.name == contact.name
        assert [c["name"] for c in admin.contacts(token)] == [contact.name]
