"""The Merge contact as the sandbox renders it and reads it back: the wire form, apart from the routes.

`render` answers with Merge's documented contact, reshaped by an account's `variant` the way other servers
legitimately do (see `sandbox.variants`); `parse_model` reads a write's `{"model": ...}` into canonical field
changes. Merge carries one email address per contact, so a written model replaces the email list with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contactsync.providers.countries import spellings
from contactsync.sandbox.payloads import iso
from contactsync.sandbox.state import StoredContact, WriteRejected
from contactsync.sandbox.variants import own_form, retext, unstate_roles

_ADDRESS_TYPES = {"billing": "BILLING", "shipping": "SHIPPING"}


def render(stored: StoredContact, variant: dict[str, Any] | None = None) -> Any:
    if stored.broken is not None:
        return stored.broken.get("merge", stored.broken.get("any"))
    if not variant:
        return _documented(stored)
    item = _documented(own_form(stored, variant))
    item = unstate_roles(item, variant, ("is_customer", "is_supplier"), drop=False)
    return retext(_styled(item, stored, variant), variant)


def _time(moment: datetime, style: str) -> str:
    if style == "seconds":
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "offset":
        return moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return iso(moment)


def _styled(item: dict[str, Any], stored: StoredContact, variant: dict[str, Any]) -> dict[str, Any]:
    """The documented rendering, reshaped the way the account's `variant` asks (see `sandbox.variants`)."""
    time_style = variant.get("merge_time", "micro")
    for key, moment in (
        ("created_at", stored.created_at),
        ("modified_at", stored.modified_at),
        ("remote_updated_at", stored.remote_updated_at),
    ):
        item[key] = _time(moment, time_style)
    lower = variant.get("merge_case") == "lower"
    if lower:
        item["status"] = item["status"].lower()
    phones = variant.get("merge_phones", "objects")
    if phones == "strings":
        item["phone_numbers"] = [p["number"] for p in item["phone_numbers"]]
    else:
        item["phone_numbers"] = [
            {"phone_number": p["number"], "phone_number_type": p["type"]} if phones == "long_keys" else dict(p)
            for p in item["phone_numbers"]
        ]
        if lower:
            for phone in item["phone_numbers"]:
                key = "phone_number_type" if phones == "long_keys" else "type"
                phone[key] = phone[key].lower() if phone[key] else phone[key]
    country_style = variant.get("merge_country", "alpha2")
    for address in item["addresses"]:
        if lower and address["type"]:
            address["type"] = address["type"].lower()
        known = spellings(address["country"]) if address["country"] else None
        if known and country_style != "alpha2":
            address["country"] = known[0] if country_style == "alpha3" else known[1]
    if variant.get("merge_sparse"):
        item = {k: v for k, v in item.items() if v is not None}
        if not item.get("remote_was_deleted"):
            item.pop("remote_was_deleted", None)
        item["integration_params"] = {"sandbox_note": "a field this client does not know"}
    return item


def _documented(stored: StoredContact) -> dict[str, Any]:
    c = stored.contact
    return {
        "id": stored.id,
        "remote_id": stored.platform_id,
        "created_at": iso(stored.created_at),
        "modified_at": iso(stored.modified_at),
        "name": c.name,
        "is_supplier": c.is_supplier,
        "is_customer": c.is_customer,
        "email_address": c.emails[0] if c.emails else None,
        "tax_number": c.tax_number,
        "status": c.status.upper(),
        "currency": c.currency,
        "remote_updated_at": iso(stored.remote_updated_at),
        "company": None,
        "addresses": [
            {
                "type": _ADDRESS_TYPES.get(a.type),
                "street_1": a.street_1,
                "street_2": a.street_2,
                "city": a.city,
                "state": a.state,
                "country_subdivision": a.state,
                "country": a.country,
                "zip_code": a.postal_code,
            }
            for a in c.addresses
        ],
        "phone_numbers": [{"number": p.number, "type": p.type} for p in c.phones],
        "remote_was_deleted": stored.deleted,
        "field_mappings": None,
        "remote_data": None,
    }


def parse_model(model: Any) -> dict[str, Any]:
    """A Merge write model as canonical field changes; raises WriteRejected with Merge's wording."""
    if not isinstance(model, dict):
        raise WriteRejected("Invalid request", 'the body must be {"model": {...}}')
    changes: dict[str, Any] = {}
    for key in ("name", "is_supplier", "is_customer", "tax_number", "currency"):
        if key in model:
            changes[key] = model[key]
    if "email_address" in model:
        changes["emails"] = [model["email_address"]] if model["email_address"] else []
    if "status" in model:
        status = model["status"]
        if status not in ("ACTIVE", "ARCHIVED"):
            raise WriteRejected("Invalid enum value", f"status must be ACTIVE or ARCHIVED, not {status!r}")
        changes["status"] = status.lower()
    if "addresses" in model:
        changes["addresses"] = [
            {
                "type": (a.get("type") or "other").lower(),
                "street_1": a.get("street_1"),
                "street_2": a.get("street_2"),
                "city": a.get("city"),
                "state": a.get("country_subdivision", a.get("state")),
                "postal_code": a.get("zip_code"),
                "country": a.get("country"),
            }
            for a in model["addresses"] or []
        ]
    if "phone_numbers" in model:
        changes["phones"] = [{"number": p.get("number"), "type": p.get("type")} for p in model["phone_numbers"] or []]
    return changes
