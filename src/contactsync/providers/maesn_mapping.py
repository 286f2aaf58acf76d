"""Maesn contact JSON <-> canonical contact, as pure functions.

Maesn's v1 contact has no address `state` and no deleted flag, so neither survives a trip through Maesn.
Writes (`to_maesn`) hold only the fields and enum values Maesn's reference documents for the version
(`WRITABLE`): no version writes a status or a currency, v1 says roles through the resource (/customers,
/suppliers) and v2 through `isCustomer`/`isSupplier` but has no `vatId`; emails go out as BUSINESS, shipping
addresses as DELIVERY, phone types mapped onto the version's enum.
Roles come from `isCustomer`/`isSupplier` when the item carries them (the `/contacts` list, v2) and
otherwise from which list the item was read from, passed in as `roles`. `status` and `currency` are read when
present and default to active/None when a system does not send them; roles and a status a record leaves
open are marked `unstated` (see `CanonicalContact.unstated`).

Reading tolerates what other Maesn-shaped servers (and Maesn's v2) do differently: emails and phone numbers as
objects or bare strings; the name as `companyName`, `name`, `displayName` or a person's `firstName` +
`lastName`; the change time as `updatedDate`, `lastModified`, `modifiedDate`, `updatedAt` and kin (ISO or
epoch); roles from `isCustomer`/`isSupplier`, else from the list the item came from, else from a
`contactType`/`type`/`roles` naming CUSTOMER, SUPPLIER or VENDOR; country codes or names (stored as
ISO-2); enum values in any case, unknown address types as "other". A record with no change time at all is
accepted with no `modified_at`: it then cannot move the watermark, which is the safe direction. Still
quarantined: no id, no name in any spelling, or a status that is neither active nor archived.
"""

from __future__ import annotations

from typing import Any

from contactsync.contact import SYNCED_FIELDS, CanonicalContact
from contactsync.matching.normalise.phones import phone_kind
from contactsync.providers import records
from contactsync.providers.countries import country_code
from contactsync.providers.errors import RecordError
from contactsync.states import ContactStatus

_ADDRESS_IN = {
    "BILLING": "billing",
    "SHIPPING": "shipping",
    "DELIVERY": "shipping",
    "OTHER": "other",
    "EMPTY": "other",
    None: "billing",
}
_STATUS_IN = {
    "ACTIVE": ContactStatus.ACTIVE,
    "ARCHIVED": ContactStatus.ARCHIVED,
    "INACTIVE": ContactStatus.ARCHIVED,
    "ARCHIVE": ContactStatus.ARCHIVED,
    "DISABLED": ContactStatus.ARCHIVED,
    None: ContactStatus.ACTIVE,
}
_UPDATED_KEYS = (
    "updatedDate",
    "lastModified",
    "lastModifiedDate",
    "lastModifiedAt",
    "modifiedDate",
    "modifiedAt",
    "updatedAt",
    "updated_at",
    "modified_at",
)
_NAME_KEYS = ("companyName", "name", "displayName", "fullName")
_ROLE_KEYS = ("contactType", "type", "roles", "contactTypes", "role")
# Fields that say a contact is active or archived when `status` does not.
_STATE_FLAGS = ("isArchived", "archived", "isActive", "active")
_CUSTOMER_WORDS = frozenset({"CUSTOMER", "CLIENT", "DEBTOR", "BOTH"})
_SUPPLIER_WORDS = frozenset({"SUPPLIER", "VENDOR", "CREDITOR", "BOTH"})


def from_maesn(record: Any, roles: tuple[bool, bool] | None = None) -> CanonicalContact:
    """Map one Maesn contact; `roles` is (is_customer, is_supplier) when the item itself does not say."""
    if not isinstance(record, dict):
        raise RecordError(f"a contact should be an object, got {type(record).__name__}")
    raw_id = record.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if not isinstance(raw_id, str) or not raw_id:
        raise RecordError("id is missing or not a string")
    rid = records.checked_id(raw_id)
    records.check_strings(record, rid)
    status = records.enum(record.get("status"))
    unstated = [] if status is not None or any(record.get(k) is not None for k in _STATE_FLAGS) else ["status"]
    if status is None and (record.get("isArchived") is True or record.get("archived") is True):
        status = "ARCHIVED"
    if status is None and (record.get("isActive") is False or record.get("active") is False):
        status = "ARCHIVED"
    if status not in _STATUS_IN:
        raise RecordError(f"status has unknown value {record.get('status')!r}", remote_id=rid)
    addresses = []
    for address in records.items(record, "addresses", rid):
        kind = records.enum(address.get("type"))
        country = records.pick(address, "countryCode", "country", "countryIso", "countryName")
        addresses.append(
            {
                "type": _ADDRESS_IN.get(kind, "other"),
                "street_1": records.pick(address, "addressLine1", "street", "street1", "line1"),
                "street_2": records.pick(address, "addressLine2", "street2", "line2"),
                "city": address.get("city"),
                "postal_code": records.pick(address, "postalCode", "zipCode", "zip", "postcode"),
                "country": country_code(country) if isinstance(country, str) else country,
            }
        )
    is_customer, is_supplier, open_roles = _roles(record, rid, roles)
    updated_key = records.first_key(record, *_UPDATED_KEYS)
    updated = records.timestamp(record, updated_key, rid) if updated_key else None
    emails = []
    for entry in records.entries(record, "emailAddresses", rid) or records.entries(record, "emails", rid):
        email = records.pick(entry, "email", "emailAddress", "address", "value")
        if isinstance(email, str) and email.strip():
            emails.append(email.strip())
    tax_key = records.first_key(record, "vatId", "vatNumber", "taxNumber", "taxId")
    fields = {
        "remote_id": rid,
        "name": _name(record, rid),
        "is_customer": is_customer,
        "is_supplier": is_supplier,
        "emails": emails,
        "tax_number": records.text(record, tax_key, rid) if tax_key else None,
        "phones": records.phones(
            records.entries(record, "phoneNumbers", rid) or records.entries(record, "phones", rid),
            ("number", "phoneNumber", "value"),
            ("type",),
        ),
        "addresses": addresses,
        "status": _STATUS_IN[status],
        "currency": records.text(record, "currency", rid),
        "remote_updated_at": updated,
        "modified_at": updated,
        "unstated": unstated + open_roles,
        "raw": record,
    }
    return records.build(fields, rid)


def _name(record: dict[str, Any], rid: str) -> str | None:
    key = records.first_key(record, *_NAME_KEYS)
    if key is not None:
        return records.text(record, key, rid, required=True)
    person = " ".join(
        part.strip() for part in (record.get("firstName"), record.get("lastName")) if isinstance(part, str)
    ).strip()
    if person:
        return person
    raise RecordError("companyName (or name, or firstName/lastName) is missing", remote_id=rid)


def _roles(record: dict[str, Any], rid: str, roles: tuple[bool, bool] | None) -> tuple[bool, bool, list[str]]:
    """Roles from explicit flags, else from the list read (`roles`), else from a role-naming type field; and the
    roles the record leaves open (`unstated`): a flag that is absent or null, or both when there is no flag, no
    list that says them and no role word (a role word says both: CUSTOMER is no supplier). Maesn's v1 `/contacts`
    documents no role at all, and a system without the notion sends no flags in v2 either."""
    if "isCustomer" in record or "isSupplier" in record:
        flags = (("is_customer", "isCustomer"), ("is_supplier", "isSupplier"))
        return (
            records.boolean(record, "isCustomer", rid),
            records.boolean(record, "isSupplier", rid),
            [name for name, flag in flags if record.get(flag) is None],
        )
    if roles is not None:
        return (*roles, [])  # which list the record was read from is authoritative
    words: set[str] = set()
    for key in _ROLE_KEYS:
        for value in records.entries(record, key, rid) if isinstance(record.get(key), list | str) else []:
            word = records.enum(value) if isinstance(value, str) else None
            if word:
                words.add(word)
    said = words & (_CUSTOMER_WORDS | _SUPPLIER_WORDS)
    return bool(words & _CUSTOMER_WORDS), bool(words & _SUPPLIER_WORDS), [] if said else ["is_customer", "is_supplier"]


# Maesn's documented write enums (SDK and API reference). v1 and v2 differ in address and phone types.
EMAIL_TYPE = "BUSINESS"
_PHONE_TYPES = {
    "v1": frozenset({"BUSINESS", "MOBILE", "OFFICE", "FAX", "PRIVATE", "LANDLINE", "SKYPE", "WHATSAPP", "OTHER"}),
    "v2": frozenset({"BUSINESS", "MOBILE", "OFFICE", "FAX", "PRIVATE", "OTHER"}),
}
_PHONE_WORDS = {"LANDLINE": "LANDLINE"}
# A type off the enum goes as the enum's word for its kind of line (`phone_kind`: "cell", "Mobile phone" are
# MOBILE; "work", "DEFAULT", "PrimaryPhone" are BUSINESS), else as OTHER.
_KIND_WORDS = {"work": "BUSINESS", "mobile": "MOBILE", "fax": "FAX", "home": "PRIVATE"}
# "other" has no v2 value: the address goes without a type (optional in both versions).
_ADDRESS_WRITE: dict[str, dict[str, str | None]] = {
    "v1": {"billing": "BILLING", "shipping": "DELIVERY", "other": "EMPTY"},
    "v2": {"billing": "BILLING", "shipping": "DELIVERY", "other": None},
}
# Canonical fields each version's write schema can say something about. Neither version documents a status
# or a currency on writes; v1 says the roles through the resource (/customers, /suppliers), v2 through flags
# and has no vatId.
WRITABLE = {
    "v1": frozenset({"name", "emails", "tax_number", "phones", "addresses"}),
    "v2": frozenset({"name", "emails", "phones", "addresses", "is_customer", "is_supplier"}),
}


def _phone_type(value: Any, version: str) -> str:
    word = records.enum(value) if isinstance(value, str) else None
    if word is None:
        return "BUSINESS"
    if word not in _PHONE_TYPES[version]:
        word = _PHONE_WORDS.get(word) or _KIND_WORDS.get(phone_kind(value) or "", "OTHER")
    return word if word in _PHONE_TYPES[version] else "BUSINESS"


def _address_out(address: dict[str, Any], version: str) -> dict[str, Any]:
    country = country_code(address.get("country"))
    out = {
        "addressLine1": address.get("street_1"),
        "addressLine2": address.get("street_2"),
        "city": address.get("city"),
        # An unknown country is left out rather than sent off the ISO 3166-1 enum (a strict server refuses it).
        "countryCode": country if country is not None and len(country) == 2 and country.isalpha() else None,
        "postalCode": address.get("postal_code"),
        "type": _ADDRESS_WRITE[version][address.get("type") or "billing"],
    }
    return {key: value for key, value in out.items() if value is not None}


def to_maesn(fields: dict[str, Any], *, version: str = "v1", whole: bool = False) -> dict[str, Any]:
    """Canonical fields (JSON form, any subset of `SYNCED_FIELDS`) as a Maesn write body of `version`, holding
    only what that version documents and only documented enum values. Fields it cannot carry are left out
    (`WRITABLE` says which). `whole` (create, PUT) adds the required `contactType`."""
    unknown = set(fields) - set(SYNCED_FIELDS)
    if unknown:
        raise ValueError(f"not synced fields: {sorted(unknown)}")
    if version not in WRITABLE:
        raise ValueError(f"unknown Maesn version {version!r}")
    fields = {key: value for key, value in fields.items() if key in WRITABLE[version]}
    body: dict[str, Any] = {}
    if whole:
        body["contactType"] = "COMPANY"
    if "name" in fields:
        body["companyName"] = fields["name"]
    if "tax_number" in fields:
        body["vatId"] = fields["tax_number"]
    for key, out in (("is_customer", "isCustomer"), ("is_supplier", "isSupplier")):
        if key in fields:
            body[out] = bool(fields[key])
    if "emails" in fields:
        body["emailAddresses"] = [{"email": e, "type": EMAIL_TYPE} for e in fields["emails"] or []]
    if "phones" in fields:
        body["phoneNumbers"] = [
            {"number": p["number"], "type": _phone_type(p.get("type"), version)} for p in fields["phones"] or []
        ]
    if "addresses" in fields:
        body["addresses"] = [_address_out(a, version) for a in fields["addresses"] or []]
    return body


def writable_view(content: dict[str, Any], version: str = "v1", *, roles: bool = False) -> dict[str, Any]:
    """The part of a carried view a write of `version` can set (`roles`: the resource says them, as in "split")."""
    keep = WRITABLE[version] | ({"is_customer", "is_supplier"} if roles else set())
    return {key: value for key, value in content.items() if key in keep}


def carried_by_maesn(contact: CanonicalContact) -> dict[str, Any]:
    """The part of a contact's content Maesn can carry: what a round trip through Maesn must preserve."""
    content = contact.content()
    content["addresses"] = [{**a, "state": None, "country": country_code(a["country"])} for a in content["addresses"]]
    # Phone types travel as Maesn's enum: "work" and "BUSINESS" are the same type, not a change to sync.
    content["phones"] = [{**p, "type": _phone_type(p["type"], "v1")} for p in content["phones"]]
    content["deleted"] = False
    return content
