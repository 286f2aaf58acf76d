"""Pure pieces: dialect round trips, Retry-After derivation, window arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from contactsync.contact import Address, CanonicalContact, Phone
from contactsync.providers.http import retry_after_seconds
from contactsync.providers.maesn_mapping import carried_by_maesn, from_maesn, to_maesn, writable_view
from contactsync.providers.merge_mapping import carried_by_merge, from_merge, to_merge
from contactsync.providers.records import raw_digest
from contactsync.providers.window import DEFAULT_LOOKBACK, advance_watermark, next_window
from contactsync.sandbox.seed import companies

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ODD = CanonicalContact(
    name="Ödland & Søn — «Ä» Ltd",
    is_customer=True,
    is_supplier=True,
    emails=("a@x.de", "b@x.de"),
    tax_number="DE811569869",
    phones=(Phone(number="+49 30 1234567", type=None), Phone(number="0301234", type="fax")),
    addresses=(
        Address(type="other", street_1="Hof 1", city="Wien", country="AT", postal_code="1010"),
        Address(type="shipping", street_2="c/o", state="NY", country="US"),
    ),
    status="archived",
    currency="EUR",
)
SAMPLES = [*companies(2024, 150), ODD]


def _synced(contact: CanonicalContact) -> dict:
    return {k: v for k, v in contact.content().items() if k != "deleted"}


@pytest.mark.parametrize("contact", SAMPLES, ids=lambda c: c.name[:30])
def test_merge_round_trip_keeps_everything_merge_can_carry(contact):
    answer = {**to_merge(_synced(contact)), "id": "m-1", "modified_at": "2026-03-01T12:00:00.000001Z"}
    back = from_merge(answer)
    assert carried_by_merge(back) == carried_by_merge(contact)
    assert back.remote_id == "m-1" and back.modified_at == T0 + timedelta(microseconds=1)


@pytest.mark.parametrize("contact", SAMPLES, ids=lambda c: c.name[:30])
def test_maesn_round_trip_keeps_everything_maesn_can_carry(contact):
    answer = {**to_maesn(_synced(contact)), "id": "a-1", "updatedDate": "2026-03-01T12:00:00Z"}
    back = from_maesn(answer)
    assert writable_view(carried_by_maesn(back)) == writable_view(carried_by_maesn(contact))
    assert back.modified_at == T0


def test_what_each_dialect_cannot_carry_is_exactly_what_is_lost():
    merged = from_merge({**to_merge(_synced(ODD)), "id": "m", "modified_at": "2026-03-01T12:00:00Z"})
    assert merged.emails == ("a@x.de",)
    assert merged.addresses == ODD.addresses
    maesned = from_maesn({**to_maesn(_synced(ODD)), "id": "a", "updatedDate": "2026-03-01T12:00:00Z"})
    assert maesned.emails == ODD.emails
    assert maesned.addresses[1].state is None and maesned.addresses[0] == ODD.addresses[0]


def test_update_bodies_carry_only_the_changed_fields():
    assert to_merge({"name": "N"}) == {"name": "N"}
    assert to_merge({"emails": []}) == {"email_address": None}
    # Neither Maesn version documents a status or currency on writes; v1 has no role flags, v2 no vatId.
    assert to_maesn({"status": "archived", "currency": "EUR", "is_customer": True}) == {}
    assert to_maesn({"tax_number": "DE1", "is_supplier": True}, version="v2") == {"isSupplier": True}
    assert to_maesn({"name": "N"}, whole=True) == {"contactType": "COMPANY", "companyName": "N"}
    with pytest.raises(ValueError):
        to_merge({"remote_id": "x"})


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)}, 30.0),
        ({"X-Rate-Limit-Problem": "minute"}, 60.0),
        ({"X-Rate-Limit-Problem": "day"}, 3600.0),
        ({"X-RateLimit-Reset": "12"}, 12.0),
        ({"X-RateLimit-Reset": str(int(NOW + 20))}, 20.0),
        ({"Retry-After": "soon"}, 42.0),
        ({}, 42.0),
    ],
)
def test_retry_after_is_derived_from_whichever_header_the_platform_sent(headers, expected):
    import httpx

    assert retry_after_seconds(httpx.Headers(headers), 42.0, now=NOW) == pytest.approx(expected, abs=1.0)


def test_next_window_starts_lookback_before_the_watermark():
    assert next_window(None).modified_after is None
    window = next_window(T0, timedelta(minutes=2), T0 + timedelta(hours=1))
    assert window.modified_after == T0 - timedelta(minutes=2)
    assert window.modified_before == T0 + timedelta(hours=1)
    assert next_window(T0).modified_after == T0 - DEFAULT_LOOKBACK
    assert next_window(T0, timedelta(0), T0 - timedelta(hours=1)).modified_before is None
    with pytest.raises(ValueError):
        next_window(T0, timedelta(seconds=-1))


def test_advance_never_moves_backwards_or_on_nothing_seen():
    assert advance_watermark(None, None) is None
    assert advance_watermark(T0, None) == T0
    assert advance_watermark(None, T0) == T0
    assert advance_watermark(T0, T0 - timedelta(seconds=1)) == T0
    assert advance_watermark(T0, T0 + timedelta(seconds=1)) == T0 + timedelta(seconds=1)


def test_raw_digest_is_of_the_record_as_sent_whatever_its_key_order() -> None:
    record = {"id": "r1", "name": "Alpha GmbH", "phone_numbers": [{"number": "+49 30 1", "type": "MOBILE"}], "n": 2**70}
    same = {"n": 2**70, "phone_numbers": [{"type": "MOBILE", "number": "+49 30 1"}], "name": "Alpha GmbH", "id": "r1"}
    assert raw_digest(record) == raw_digest(same)
    assert len({raw_digest(record), raw_digest({**record, "name": "Alpha AG"}), raw_digest({**record, "x": None})}) == 3
    assert raw_digest({**record, "phone_numbers": [{"number": "+49 30 1", "type": "MOBILE"}] * 2}) != raw_digest(record)
    assert raw_digest({"id": "r1", "name": "\ud800"}) is None  # not text: such a record is refused anyway


def _merge_record(**fields: object) -> dict:
    record = {"id": "m1", "name": "Acme", "modified_at": "2026-03-01T12:00:00Z"}
    record.update(fields)
    return record


def test_merge_roles_and_status_it_leaves_null_are_unstated_not_false() -> None:
    said = from_merge(_merge_record(is_customer=False, is_supplier=True, status="ACTIVE"))
    assert said.unstated == () and "unstated" not in said.content()
    left = from_merge(_merge_record(is_customer=None, status=None))
    assert left.unstated == ("is_customer", "is_supplier", "status")
    assert (left.is_customer, left.is_supplier, left.status) == (False, False, "active")
    assert left.content()["unstated"] == ["is_customer", "is_supplier", "status"]
    # The marker is part of the content's digest only where it says something
    assert said.content_hash() == CanonicalContact.model_validate(said.content()).content_hash()
    assert left.content_hash() != from_merge(_merge_record(is_customer=False, is_supplier=False)).content_hash()


def test_maesn_roles_a_record_does_not_say_are_unstated_unless_its_list_says_them() -> None:
    base = {"id": "c1", "companyName": "Acme", "updatedDate": "2026-03-01T12:00:00Z", "status": "ACTIVE"}
    # v1 /contacts as documented: contactType COMPANY is a kind, not a role
    assert from_maesn({**base, "contactType": "COMPANY"}).unstated == ("is_customer", "is_supplier")
    assert from_maesn({**base, "contactType": "COMPANY"}, roles=(True, False)).unstated == ()  # /customers
    assert from_maesn({**base, "contactType": "CUSTOMER"}).unstated == ()
    assert from_maesn({**base, "isCustomer": True}).unstated == ("is_supplier",)
    assert from_maesn({**base, "isCustomer": None, "isSupplier": False}).unstated == ("is_customer",)
    assert from_maesn({**base, "isCustomer": True, "isSupplier": False}).unstated == ()
    no_status = {k: v for k, v in base.items() if k != "status"}
    assert from_maesn({**no_status, "isCustomer": True, "isSupplier": False}).unstated == ("status",)
    archived = from_maesn({**no_status, "isCustomer": True, "isSupplier": False, "isArchived": True})
    assert archived.unstated == () and archived.status == "archived"


def test_only_fields_whose_default_reads_as_a_value_can_be_unstated() -> None:
    with pytest.raises(ValueError, match="can be unstated"):
        CanonicalContact(name="Acme", unstated=("name",))
