"""Write bodies keep to each dialect's documented schema, and a server that enforces it is believed.

Maesn: the sandbox's strict mode (`maesn_strict`) refuses, with 422, any field or enum value its version's
documented schema lacks (`sandbox.maesn_schema`, written from Maesn's reference and SDK). Merge: the documented
`ContactRequest` / `AddressRequest` / phone number request fields.
"""

from __future__ import annotations

import httpx
import pytest

from contactsync.contact import Address, CanonicalContact, Phone
from contactsync.providers.errors import Permanent
from contactsync.providers.maesn_mapping import to_maesn
from contactsync.providers.merge_mapping import to_merge
from contactsync.sandbox import maesn_schema
from contactsync.sandbox.seed import companies

ODD = CanonicalContact(
    name="Ödland & Søn Ltd",
    is_customer=True,
    is_supplier=True,
    emails=("a@x.de", "b@x.de"),
    tax_number="DE811569869",
    phones=(Phone(number="+49 30 1", type=None), Phone(number="0301", type="fax"), Phone(number="3", type="pager")),
    addresses=(
        Address(type="other", street_1="Hof 1", city="Wien", country="Österreich", postal_code="1010"),
        Address(type="shipping", street_2="c/o", state="NY", country="Atlantis"),
    ),
    status="archived",
    currency="EUR",
)
SAMPLES = [*companies(4242, 60), ODD]
MERGE_CONTACT = {
    "name",
    "is_supplier",
    "is_customer",
    "email_address",
    "tax_number",
    "status",
    "currency",
    "company",
    "addresses",
    "phone_numbers",
}
MERGE_ADDRESS = {"type", "street_1", "street_2", "city", "country_subdivision", "country", "zip_code"}


def _fields(contact: CanonicalContact) -> dict:
    return {k: v for k, v in contact.content().items() if k != "deleted"}


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("whole", [True, False])
def test_maesn_bodies_hold_only_documented_fields_and_values(version, whole):
    for contact in SAMPLES:
        body = to_maesn(_fields(contact), version=version, whole=whole)
        assert maesn_schema.problems(body, version, create=whole) == [], contact.name
    body = to_maesn(_fields(ODD), version="v1", whole=True)
    assert {"isCustomer", "isSupplier", "status", "currency"}.isdisjoint(body)
    assert {e["type"] for e in body["emailAddresses"]} == {"BUSINESS"}
    assert [a.get("type") for a in body["addresses"]] == ["EMPTY", "DELIVERY"]
    assert [a.get("countryCode") for a in body["addresses"]] == ["AT", None]  # no off-enum country is sent
    assert "vatId" not in to_maesn(_fields(ODD), version="v2")


def test_the_strict_schema_refuses_what_the_old_bodies_sent():
    old = {
        "companyName": "X",
        "contactType": "COMPANY",
        "isCustomer": True,
        "status": "ACTIVE",
        "currency": "EUR",
        "emailAddresses": [{"email": "a@x.de", "type": "WORK"}],
        "addresses": [{"type": "SHIPPING", "countryCode": "Deutschland"}],
    }
    found = " | ".join(maesn_schema.problems(old, "v1", create=True))
    for word in ("isCustomer", "status", "currency", "WORK", "SHIPPING", "Deutschland"):
        assert word in found
    assert maesn_schema.problems({"companyName": "X"}, "v1", create=True) == ["contactType is required"]
    assert "vatId" in " ".join(maesn_schema.problems({"vatId": "DE1", "contactType": "COMPANY"}, "v2", create=True))


def test_merge_bodies_hold_only_documented_request_fields():
    for contact in SAMPLES:
        model = to_merge(_fields(contact))
        assert set(model) <= MERGE_CONTACT
        for address in model["addresses"]:
            assert set(address) <= MERGE_ADDRESS
            assert address["country"] is None or (len(address["country"]) == 2 and address["country"].isupper())
            assert address["type"] in ("BILLING", "SHIPPING", None)
        for phone in model["phone_numbers"]:
            assert set(phone) <= {"number", "type"}
    assert to_merge({"addresses": [{"type": "billing", "state": "NY"}]})["addresses"][0]["country_subdivision"] == "NY"


@pytest.mark.parametrize(("resources", "version"), [("contacts", "v1"), ("split", "v1"), ("contacts", "v2")])
def test_every_write_is_accepted_by_a_strict_server(admin, connect, resources, version):
    token = admin.create_account(seed=51, count=3, variant={"maesn_strict": True})
    provider = connect("maesn", token, resources=resources, api_version=version)
    for contact in [*companies(52, 5), ODD.model_copy(update={"is_supplier": False})]:
        created = provider.create(contact)
        provider.update(created.remote_id, {"emails": ["new@example.org"], "phones": [{"number": "1", "type": "x"}]})
        provider.update(created.remote_id, {"addresses": [a.model_dump() for a in ODD.addresses]})
    assert admin.stats(token)["creates"] == 6


def test_a_refused_write_is_a_permanent_failure_with_the_servers_reason(admin, connect, sandbox):
    token = admin.create_account(seed=53, count=1, variant={"maesn_strict": True})
    provider = connect("maesn", token)
    refused = httpx.post(
        f"{sandbox.url}/accounting/contacts",
        headers={"X-API-KEY": "k", "X-ACCOUNT-KEY": token},
        json={"companyName": "Old Body Ltd", "contactType": "COMPANY", "status": "ACTIVE"},
    )
    assert refused.status_code == 422 and "status" in refused.text
    created = provider.create(CanonicalContact(name="Fine Ltd"))
    # A body the server refuses (here: a PUT without the required contactType) is Permanent, never retried.
    with pytest.raises(Permanent, match=r"422|contactType"):
        provider.http.request(
            "PUT", f"/accounting/contacts/{created.remote_id}", params={}, json_body={"companyName": "No Type"}
        )


def test_maesn_phone_types_go_as_the_enums_word_for_their_kind_of_line():
    """A type off Maesn's enum is written as the enum's word for that kind of line, not as OTHER: an app's
    "Mobile phone" is a MOBILE line, Xero's DEFAULT and QuickBooks' PrimaryPhone are BUSINESS ones."""
    words = ["work", "cell", "Mobile phone", "DEFAULT", "PrimaryPhone", "home", "Telefax", "pager", None]
    phones = [{"number": f"+4930123456{i}", "type": word} for i, word in enumerate(words)]
    for version, landline in (("v1", "LANDLINE"), ("v2", "BUSINESS")):
        body = to_maesn({"phones": [*phones, {"number": "+49301234599", "type": "landline"}]}, version=version)
        sent = [p["type"] for p in body["phoneNumbers"]]
        assert sent == [
            "BUSINESS", "MOBILE", "MOBILE", "BUSINESS", "BUSINESS", "PRIVATE", "FAX", "OTHER", "BUSINESS", landline
        ], version  # fmt: skip
        assert maesn_schema.problems({**body, "companyName": "X"}, version, create=False) == []
