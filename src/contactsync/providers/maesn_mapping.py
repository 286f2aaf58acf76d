"""Maesn contact JSON <-> canonical contact, as pure functions.

Maesn's v1 contact has no address `state` and no deleted flag, so neither survives a trip through Maesn; every
other canonical field round-trips. Roles come from `isCustomer`/`isSupplier` when the item carries them (the
`/contacts` list, v2) and otherwise from which list the item was read from, passed in as `roles`. `status` and
`currency` are read when present and default to active/None when a system does not send them.
"""

from __future__ import annotations

from typing import Any

from contactsync.contact import SYNCED_FIELDS, CanonicalContact
from contactsync.providers import records
from contactsync.providers.errors import RecordError

_ADDRESS_IN = {"BILLING": "billing", "SHIPPING": "shipping", "OTHER": "other", None: "billing"}
_ADDRESS_OUT = {"billing": "BILLING", "shipping": "SHIPPING", "other": "OTHER"}
_STATUS_IN = {"ACTIVE": "active", "ARCHIVED": "archived", None: "active"}


def from_maesn(record: Any, roles: tuple[bool, bool] | None = None) -> CanonicalContact:
    """Map one Maesn contact; `roles` is (is_customer, is_supplier) when the item itself does not say."""
    if not isinstance(record, dict):
        raise RecordError(f"a contact should be an object, got {type(record).__name__}")
    raw_id = record.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if not isinstance(raw_id, str) or not raw_id:
        raise RecordError("id is missing or not a string")
    rid = raw_id
    records.check_strings(record, rid)
    status = record.get("status")
    if status not in _STATUS_IN:
        raise RecordError(f"status has unknown value {status!r}", remote_id=rid)
    addresses = []
    for index, address in enumerate(records.items(record, "addresses", rid)):
        kind = address.get("type")
        if kind not in _ADDRESS_IN:
            raise RecordError(f"addresses[{index}].type has unknown value {kind!r}", remote_id=rid)
        addresses.append(
            {
                "type": _ADDRESS_IN[kind],
                "street_1": address.get("addressLine1"),
                "street_2": address.get("addressLine2"),
                "city": address.get("city"),
                "postal_code": address.get("postalCode"),
                "country": address.get("countryCode"),
            }
        )
    if "isCustomer" in record or "isSupplier" in record or roles is None:
        is_customer = records.boolean(record, "isCustomer", rid)
        is_supplier = records.boolean(record, "isSupplier", rid)
    else:
        is_customer, is_supplier = roles
    updated = records.timestamp(record, "updatedDate", rid, required=True)
    fields = {
        "remote_id": rid,
        "name": records.text(record, "companyName", rid, required=True),
        "is_customer": is_customer,
        "is_supplier": is_supplier,
        "emails": [e.get("email") for e in records.items(record, "emailAddresses", rid)],
        "tax_number": records.text(record, "vatId", rid),
        "phones": [
            {"number": p.get("number"), "type": p.get("type")} for p in records.items(record, "phoneNumbers", rid)
        ],
        "addresses": addresses,
        "status": _STATUS_IN[status],
        "currency": records.text(record, "currency", rid),
        "remote_updated_at": updated,
        "modified_at": updated,
        "raw": record,
    }
    return records.build(fields, rid)


def to_maesn(fields: dict[str, Any]) -> dict[str, Any]:
    """Canonical fields (JSON form, any subset of `SYNCED_FIELDS`) as a Maesn write body."""
    unknown = set(fields) - set(SYNCED_FIELDS)
    if unknown:
        raise ValueError(f"not synced fields: {sorted(unknown)}")
    body: dict[str, Any] = {}
    names = {
        "name": "companyName",
        "tax_number": "vatId",
        "currency": "currency",
        "is_customer": "isCustomer",
        "is_supplier": "isSupplier",
    }
    for key, out in names.items():
        if key in fields:
            body[out] = fields[key]
    if "name" in fields:
        body["contactType"] = "COMPANY"
    if "emails" in fields:
        body["emailAddresses"] = [{"email": e, "type": "WORK"} for e in fields["emails"] or []]
    if "phones" in fields:
        body["phoneNumbers"] = [{"number": p["number"], "type": p.get("type")} for p in fields["phones"] or []]
    if "status" in fields:
        body["status"] = str(fields["status"]).upper()
    if "addresses" in fields:
        body["addresses"] = [
            {
                "addressLine1": a.get("street_1"),
                "addressLine2": a.get("street_2"),
                "city": a.get("city"),
                "countryCode": a.get("country"),
                "postalCode": a.get("postal_code"),
                "type": _ADDRESS_OUT[a.get("type", "billing")],
            }
            for a in fields["addresses"] or []
        ]
    return body


def carried_by_maesn(contact: CanonicalContact) -> dict[str, Any]:
    """The part of a contact's content Maesn can carry: what a round trip through Maesn must preserve."""
    content = contact.content()
    content["addresses"] = [{**a, "state": None} for a in content["addresses"]]
    content["deleted"] = False
    return content
