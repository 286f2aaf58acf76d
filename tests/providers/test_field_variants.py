"""Record-level variants other servers send for the same fields: each must map to the same canonical contact."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contactsync.providers.countries import country_code
from contactsync.providers.errors import RecordError
from contactsync.providers.maesn_mapping import from_maesn
from contactsync.providers.merge_mapping import from_merge
from contactsync.providers.records import parse_time

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MERGE = {"id": "m-1", "name": "Fine GmbH", "modified_at": "2026-03-01T12:00:00Z"}
MAESN = {"id": "a-1", "companyName": "Fine GmbH", "updatedDate": "2026-03-01T12:00:00Z"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T12:00:00Z", T0),
        ("2026-03-01T12:00:00.000Z", T0),
        ("2026-03-01T12:00:00.0000000Z", T0),  # seven digits, as .NET writes them
        ("2026-03-01T13:00:00+01:00", T0),
        ("2026-03-01T13:00:00+0100", T0),
        ("2026-03-01T12:00:00", T0),  # no offset: UTC
        ("2026-03-01 12:00:00", T0),
        (1772366400, T0),  # epoch seconds
        (1772366400000, T0),  # epoch milliseconds
    ],
)
def test_times_in_every_common_spelling_mean_the_same_moment(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "", None, True, "2026-13-01T00:00:00Z"])
def test_what_is_not_a_time_is_none(text):
    assert parse_time(text) is None


@pytest.mark.parametrize(
    ("raw", "code"),
    [("DE", "DE"), ("de", "DE"), ("DEU", "DE"), ("Germany", "DE"), ("united kingdom", "GB"), ("UK", "GB"),
     ("USA", "US"), ("United States of America", "US"), ("  Austria ", "AT"), ("Narnia", "Narnia"), (" ", None)],
)  # fmt: skip
def test_countries_arrive_as_alpha2_whatever_the_spelling(raw, code):
    assert country_code(raw) == code


def test_merge_phone_numbers_as_objects_with_either_key_or_as_strings():
    contact = from_merge(
        {
            **MERGE,
            "phone_numbers": [
                {"number": "+49 1", "type": "MOBILE"},
                {"phone_number": "+49 2", "phone_number_type": "FAX"},
                "+49 3",
                {"number": None, "type": "HOME"},  # says nothing: dropped
            ],
        }
    )
    assert [(p.number, p.type) for p in contact.phones] == [("+49 1", "MOBILE"), ("+49 2", "FAX"), ("+49 3", None)]


def test_merge_record_with_lower_case_enums_iso3_country_and_missing_optional_fields():
    contact = from_merge(
        {
            "id": "m-2",
            "name": "Lax Ltd",
            "modified_at": "2026-03-01T12:00:00.123456+00:00",
            "status": "archived",
            "email_address": "",
            "tax_number": "",
            "addresses": [{"type": "billing", "country": "FRA"}, {"type": "Postal", "country": "Spain"}],
            "is_customer": "true",
            "some_future_field": {"nested": [1, 2]},
        }
    )
    assert contact.status == "archived" and contact.emails == () and contact.tax_number is None
    assert [(a.type, a.country) for a in contact.addresses] == [("billing", "FR"), ("other", "ES")]
    assert contact.is_customer is True and contact.deleted is False


@pytest.mark.parametrize(("status", "expected"), [("ACTIVE", "active"), ("Inactive", "archived"), (None, "active")])
def test_merge_status_spellings(status, expected):
    assert from_merge({**MERGE, "status": status}).status == expected


def test_maesn_v2_shape_with_strings_name_and_flags():
    contact = from_maesn(
        {
            "id": 42,
            "name": "Vee Two AG",
            "updatedAt": "2026-03-01T12:00:00.000+00:00",
            "isCustomer": False,
            "isSupplier": True,
            "emailAddresses": ["a@x.de", {"emailAddress": "b@x.de"}, {"email": ""}],
            "phoneNumbers": ["+41 1", {"phoneNumber": "+41 2", "type": "WORK"}],
            "addresses": [{"street": "Weg 1", "zipCode": "8000", "country": "Switzerland", "type": "shipping"}],
            "website": "https://example.org",
        },
        roles=(True, False),
    )
    assert contact.remote_id == "42" and contact.name == "Vee Two AG"
    assert (contact.is_customer, contact.is_supplier) == (False, True)  # the record's own flags win
    assert contact.emails == ("a@x.de", "b@x.de")
    assert [p.number for p in contact.phones] == ["+41 1", "+41 2"]
    address = contact.addresses[0]
    assert (address.type, address.street_1, address.postal_code, address.country) == ("shipping", "Weg 1", "8000", "CH")
    assert contact.modified_at == T0


@pytest.mark.parametrize("key", ["lastModified", "modifiedDate", "updatedAt", "lastModifiedDate"])
def test_maesn_change_time_under_any_of_its_names(key):
    contact = from_maesn({"id": "a", "companyName": "X", key: "2026-03-01T12:00:00Z"})
    assert contact.modified_at == T0 == contact.remote_updated_at


def test_maesn_person_without_company_name_and_without_change_time():
    contact = from_maesn({"id": "p", "firstName": "Ada", "lastName": "Lovelace", "contactType": "CONTACT_PERSON"})
    assert contact.name == "Ada Lovelace"
    assert contact.modified_at is None  # cannot move a watermark, which is the safe direction


@pytest.mark.parametrize(
    ("value", "roles"),
    [("CUSTOMER", (True, False)), ("vendor", (False, True)), (["CUSTOMER", "SUPPLIER"], (True, True))],
)
def test_maesn_roles_from_a_role_naming_type_field(value, roles):
    contact = from_maesn({**MAESN, "contactType": value})
    assert (contact.is_customer, contact.is_supplier) == roles
    # Read from a list, the list decides: a supplier list's item is a supplier whatever its type says.
    listed = from_maesn({**MAESN, "contactType": value}, roles=(False, True))
    assert (listed.is_customer, listed.is_supplier) == (False, True)


def test_maesn_roles_fall_back_to_the_list_read_when_the_record_says_nothing():
    contact = from_maesn({**MAESN, "contactType": "COMPANY"}, roles=(False, True))
    assert (contact.is_customer, contact.is_supplier) == (False, True)


def test_maesn_archived_flag_without_status():
    assert from_maesn({**MAESN, "isArchived": True}).status == "archived"
    assert from_maesn({**MAESN, "isActive": False}).status == "archived"
    assert from_maesn(MAESN).status == "active"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({**MAESN, "status": "DORMANT"}, "status has unknown value"),
        ({"id": "x", "updatedDate": "2026-03-01T12:00:00Z"}, "is missing"),
        ({**MAESN, "updatedDate": "soon"}, "updatedDate is not a time"),
    ],
)
def test_what_stays_a_broken_maesn_record(record, reason):
    with pytest.raises(RecordError, match=reason):
        from_maesn(record)


def test_country_spellings_are_one_country_in_what_each_dialect_carries():
    from contactsync.contact import Address, CanonicalContact
    from contactsync.providers.maesn_mapping import carried_by_maesn, to_maesn
    from contactsync.providers.merge_mapping import carried_by_merge, to_merge

    app = CanonicalContact(name="X", addresses=(Address(country="Deutschland"),))
    platform = CanonicalContact(name="X", addresses=(Address(country="DE"),))
    assert carried_by_merge(app) == carried_by_merge(platform)
    assert carried_by_maesn(app) == carried_by_maesn(platform)
    assert to_merge({"addresses": [{"country": "Deutschland"}]})["addresses"][0]["country"] == "DE"
    assert to_maesn({"addresses": [{"country": "DEU"}]})["addresses"][0]["countryCode"] == "DE"
