"""Merge contact JSON <-> canonical contact, as pure functions.

What Merge cannot carry is lost on purpose and only there: Merge has one `email_address` per contact (the
first canonical email goes out, one comes back), and its address type is BILLING, SHIPPING or null (canonical
"other" travels as null). Everything else round-trips exactly. The canonical `remote_id` is Merge's `id`
(the handle for GET and PATCH); Merge's own `remote_id` (the platform's id) stays in `raw`.

Reading is lenient where real servers differ and nothing is at stake: enum values in any case, phone numbers as
objects (`number`/`phone_number`, `type`/`phone_number_type`) or bare strings, countries as ISO-2, ISO-3 or a
name (stored as ISO-2), flags as "true"/"false" strings, unknown address types as "other", extra fields
ignored. It stays strict where a guess would write wrong data to the app: a contact without id, name or
`modified_at` (the watermark's clock), or with a `status` that is neither active nor archived in any spelling,
is quarantined.
"""

from __future__ import annotations

from typing import Any

from contactsync.contact import STATABLE, SYNCED_FIELDS, CanonicalContact
from contactsync.providers import records
from contactsync.providers.countries import country_code
from contactsync.providers.errors import RecordError
from contactsync.states import ContactStatus

_ADDRESS_IN = {"BILLING": "billing", "SHIPPING": "shipping", None: "other"}
_ADDRESS_OUT = {"billing": "BILLING", "shipping": "SHIPPING", "other": None}
# Merge documents ACTIVE/ARCHIVED; connectors pass through their platform's word for the same two states.
_STATUS_IN = {
    "ACTIVE": ContactStatus.ACTIVE,
    "ARCHIVED": ContactStatus.ARCHIVED,
    "INACTIVE": ContactStatus.ARCHIVED,
    "ARCHIVE": ContactStatus.ARCHIVED,
    "DISABLED": ContactStatus.ARCHIVED,
    None: ContactStatus.ACTIVE,
}


def from_merge(record: Any) -> CanonicalContact:
    """Map one Merge contact; raise `RecordError` with a readable reason if it breaks the contract."""
    if not isinstance(record, dict):
        raise RecordError(f"a contact should be an object, got {type(record).__name__}")
    raw_id = record.get("id")
    if not isinstance(raw_id, str) or not raw_id:
        raise RecordError("id is missing or not a string")
    rid = records.checked_id(raw_id)
    records.check_strings(record, rid)
    status = records.enum(record.get("status"))
    if status not in _STATUS_IN:
        raise RecordError(f"status has unknown value {record.get('status')!r}", remote_id=rid)
    addresses = []
    for address in records.items(record, "addresses", rid):
        kind = records.enum(address.get("type"))
        country = address.get("country")
        addresses.append(
            {
                "type": _ADDRESS_IN.get(kind, "other"),
                "street_1": address.get("street_1"),
                "street_2": address.get("street_2"),
                "city": address.get("city"),
                # `state` is read-only and typed "any"; `country_subdivision` is the writable string of the two.
                "state": records.pick(address, "country_subdivision", "state"),
                "postal_code": address.get("zip_code"),
                "country": country_code(country) if isinstance(country, str) else country,
            }
        )
    phones = records.phones(
        records.entries(record, "phone_numbers", rid),
        ("number", "phone_number"),
        ("type", "phone_number_type"),
    )
    email = records.text(record, "email_address", rid)
    fields = {
        "remote_id": rid,
        "name": records.text(record, "name", rid, required=True),
        "is_customer": records.boolean(record, "is_customer", rid),
        "is_supplier": records.boolean(record, "is_supplier", rid),
        "emails": [email] if email else [],
        "tax_number": records.text(record, "tax_number", rid),
        "phones": phones,
        "addresses": addresses,
        "status": _STATUS_IN[status],
        "currency": records.text(record, "currency", rid),
        "remote_updated_at": records.timestamp(record, "remote_updated_at", rid),
        "modified_at": records.timestamp(record, "modified_at", rid, required=True),
        "deleted": records.boolean(record, "remote_was_deleted", rid),
        # Merge's roles and status are nullable: null (or left out) where the platform behind has no such notion,
        # which says nothing about the contact.
        "unstated": [key for key in STATABLE if record.get(key) is None],
        "raw": record,
    }
    return records.build(fields, rid)


def _iso2(value: str | None) -> str | None:
    code = country_code(value)
    return code if code is not None and len(code) == 2 and code.isalpha() else None


def to_merge(fields: dict[str, Any]) -> dict[str, Any]:
    """Canonical fields (JSON form, any subset of `SYNCED_FIELDS`) as a Merge write `model`."""
    unknown = set(fields) - set(SYNCED_FIELDS)
    if unknown:
        raise ValueError(f"not synced fields: {sorted(unknown)}")
    model: dict[str, Any] = {}
    for key in ("name", "is_customer", "is_supplier", "tax_number", "currency"):
        if key in fields:
            model[key] = fields[key]
    if "emails" in fields:
        emails = list(fields["emails"] or [])
        model["email_address"] = emails[0] if emails else None
    if "status" in fields:
        model["status"] = str(fields["status"]).upper()
    if "phones" in fields:
        model["phone_numbers"] = [{"number": p["number"], "type": p.get("type")} for p in fields["phones"] or []]
    if "addresses" in fields:
        model["addresses"] = [
            {
                "type": _ADDRESS_OUT[a.get("type", "billing")],
                "street_1": a.get("street_1"),
                "street_2": a.get("street_2"),
                "city": a.get("city"),
                # AddressRequest documents `country_subdivision`, not the read-only `state`, and ISO-2 countries only.
                "country_subdivision": a.get("state"),
                "country": _iso2(a.get("country")),
                "zip_code": a.get("postal_code"),
            }
            for a in fields["addresses"] or []
        ]
    return model


def carried_by_merge(contact: CanonicalContact) -> dict[str, Any]:
    """The part of a contact's content Merge can carry: what a round trip through Merge must preserve."""
    content = contact.content()
    content["emails"] = content["emails"][:1]
    # Merge holds ISO-2 codes only: "Deutschland" in the app and "DE" at Merge are the same country, not a change.
    content["addresses"] = [{**a, "country": country_code(a["country"])} for a in content["addresses"]]
    return content
