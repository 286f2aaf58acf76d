"""Maesn's documented contact write schema, as a strict server enforces it (variant `maesn_strict`).

Written from Maesn's API reference and SDK models: v1 (`/accounting/contacts|customers|suppliers`) and v2
(`/accounting/v2/contacts`) accept different fields and enum values. A strict server refuses a body with a
field its version does not document or a value off a documented enum, as validating APIs do (422), so contract
tests can prove that contactsync writes nothing else. Nulls are accepted for optional fields (clearing).
"""

from __future__ import annotations

from typing import Any

_COMMON = {"addresses", "companyName", "contactPersons", "contactType", "emailAddresses", "number", "phoneNumbers"}
FIELDS = {
    "v1": frozenset(_COMMON | {"bankAccount", "documentId", "projectId", "vatId"}),
    "v2": frozenset(_COMMON | {"id", "isCustomer", "isSupplier", "projectId", "website"}),
}
CONTACT_TYPES = {
    "v1": frozenset({"CONTACT_PERSON", "COMPANY"}),
    "v2": frozenset({"CONTACT_PERSON", "COMPANY", "UNDEFINED"}),
}
EMAIL_TYPES = frozenset({"BUSINESS", "PRIVATE", "OFFICE", "INVOICE", "PAYMENT", "OTHER"})
PHONE_TYPES = {
    "v1": frozenset({"BUSINESS", "MOBILE", "OFFICE", "FAX", "PRIVATE", "LANDLINE", "SKYPE", "WHATSAPP", "OTHER"}),
    "v2": frozenset({"BUSINESS", "MOBILE", "OFFICE", "FAX", "PRIVATE", "OTHER"}),
}
ADDRESS_TYPES = {
    "v1": frozenset({"BILLING", "DELIVERY", "EMPTY", "PRIVATE", "WORK", "PICKUP"}),
    "v2": frozenset({"BILLING", "DELIVERY", "PRIVATE", "WORK", "PICKUP"}),
}
ADDRESS_FIELDS = frozenset({"addressLine1", "addressLine2", "city", "countryCode", "postalCode", "type"})


def problems(body: Any, version: str, *, create: bool) -> list[str]:
    """Everything in `body` the documented schema of `version` does not allow (empty when it is valid)."""
    if not isinstance(body, dict):
        return ["the body must be a contact object"]
    found = [f"unknown field {key!r}" for key in sorted(set(body) - FIELDS[version])]
    if create and body.get("contactType") is None:
        found.append("contactType is required")
    if body.get("contactType") is not None and body["contactType"] not in CONTACT_TYPES[version]:
        found.append(f"contactType {body['contactType']!r} is not one of {sorted(CONTACT_TYPES[version])}")
    for key in ("isCustomer", "isSupplier"):
        if key in body and body[key] is not None and not isinstance(body[key], bool):
            found.append(f"{key} must be a boolean")
    for entry in body.get("emailAddresses") or []:
        if not isinstance(entry, dict) or set(entry) - {"email", "type"} or not entry.get("email"):
            found.append(f"email address {entry!r} is not {{email, type}}")
        elif entry.get("type") not in EMAIL_TYPES:
            found.append(f"email type {entry.get('type')!r} is not one of {sorted(EMAIL_TYPES)}")
    for entry in body.get("phoneNumbers") or []:
        if not isinstance(entry, dict) or set(entry) - {"number", "type"} or not entry.get("number"):
            found.append(f"phone number {entry!r} is not {{number, type}}")
        elif entry.get("type") not in PHONE_TYPES[version]:
            found.append(f"phone type {entry.get('type')!r} is not one of {sorted(PHONE_TYPES[version])}")
    for entry in body.get("addresses") or []:
        if not isinstance(entry, dict):
            found.append(f"address {entry!r} is not an object")
            continue
        found += [f"unknown address field {key!r}" for key in sorted(set(entry) - ADDRESS_FIELDS)]
        kind = entry.get("type")
        if kind is not None and kind not in ADDRESS_TYPES[version]:
            found.append(f"address type {kind!r} is not one of {sorted(ADDRESS_TYPES[version])}")
        code = entry.get("countryCode")
        if code is not None and not (isinstance(code, str) and len(code) == 2 and code.isalpha() and code.isupper()):
            found.append(f"countryCode {code!r} is not ISO 3166-1 alpha-2")
    return found
