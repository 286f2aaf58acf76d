"""Loading the application's own contacts from a CSV export, row by row, with a reason for every bad row.

Until an application feeds contactsync through its API, an export is how its contacts arrive. One bad row (an
empty name, a 10,000-character field) must not stop the other rows: it is reported with its line number and
skipped, and the rest is imported.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from contactsync.appinput import AppInput
from contactsync.contact import Address, CanonicalContact, Phone

_TRUE = {"1", "true", "yes", "y", "x", "ja", "oui", "wahr"}
_FALSE = {"0", "false", "no", "n", "nein", "non", "falsch", "-"}


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


def _flag(value: str | None) -> bool | None:
    """True, False, or None for a blank or unreadable cell: unknown, which must never become `false`."""
    text = (value or "").strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _timestamp(value: str | None) -> datetime | None:
    """The app's edit time: ISO 8601 (a value without offset is read as UTC) or Unix seconds."""
    text = (value or "").strip()
    if not text:
        return None
    if text.isdigit() and len(text) >= 9:
        return datetime.fromtimestamp(int(text), UTC)
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"updated_at: not an ISO 8601 time: {text[:40]!r}") from None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _contact(row: dict[str, str | None]) -> AppInput:
    """One row as the app states it: a missing column or a blank cell is unknown, never blank or false."""

    def get(name: str) -> str | None:
        return (row.get(name) or "").strip() or None

    known: set[str] = {"name"}
    address = Address(street_1=get("street"), city=get("city"), postal_code=get("postal_code"), country=get("country"))
    has_address = any((address.street_1, address.city, address.postal_code, address.country))
    customer, supplier = _flag(row.get("is_customer")), _flag(row.get("is_supplier"))
    emails = tuple(e.strip() for e in (get("email") or "").replace(";", ",").split(",") if e.strip())
    phone = get("phone")
    tax = get("tax_number")
    for name, present in (
        ("is_customer", customer is not None),
        ("is_supplier", supplier is not None),
        ("emails", bool(emails)),
        ("tax_number", tax is not None),
        ("phones", phone is not None),
        ("addresses", has_address),
    ):
        if present:
            known.add(name)
    contact = CanonicalContact(
        name=get("name") or "",
        # Stored values for unknown flags only shape a create (a contact is a customer unless said otherwise);
        # they are never sent to a linked platform contact.
        is_customer=customer if customer is not None else not supplier,
        is_supplier=bool(supplier),
        emails=emails,
        tax_number=tax,
        phones=(Phone(number=phone),) if phone else (),
        addresses=(address,) if has_address else (),
    )
    return AppInput("", contact, updated_at=_timestamp(row.get("updated_at")), known=frozenset(known))


def read_app_contacts(path: Path) -> Iterator[AppInput | RowError]:
    """Yield an `AppInput` per good row and a `RowError` per bad one, in file order.

    An optional `updated_at` column carries the app's own edit time (ISO 8601); without it the app's clock is
    unknown and the platform's values win on a first link.
    """
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        sample = handle.read(65536)
        handle.seek(0)
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(handle, dialect=dialect)
        columns = {(c or "").strip().lower(): c for c in reader.fieldnames or ()}
        if "id" not in columns or "name" not in columns:
            raise ValueError(f"{path}: needs 'id' and 'name' columns (found: {', '.join(columns) or 'no header'})")
        seen: set[str] = set()
        for raw in reader:
            row = {key: raw.get(col) for key, col in columns.items()}
            app_id = (row.get("id") or "").strip()
            if not app_id:
                yield RowError(reader.line_num, "empty id")
                continue
            if app_id in seen:
                yield RowError(reader.line_num, f"duplicate id {app_id!r}")
                continue
            seen.add(app_id)
            try:
                yield replace(_contact(row), app_id=app_id)
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"]) or "row"
                yield RowError(reader.line_num, f"{field}: {first['msg']}")
            except ValueError as exc:
                yield RowError(reader.line_num, str(exc))
