"""Whether a contact found on the platform is the echo of a create we sent: the same record, not a namesake.

A create whose answer was lost is recognised later, in a walk or a look-up, by what it carried. A namesake (the
same name, another city, its own tax id) must never pass: adopting it links the app contact to a stranger and
leaves the app contact uncreated. So every identifying field that was sent must come back equal, and the found
contact may not carry one that was not sent. Both sides are compared through the dialect's carried view (see
`providers.registry.carried_content`), so a field the platform cannot hold is not held against it.

Hand-written rather than the matcher: the matcher scores likeness between two independently kept records; this
recognises our own write, and only an exact one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def _text(value: Any) -> str:
    """Equal but for case and spacing (the way platforms re-space and re-case what they store)."""
    return " ".join(str(value or "").split()).casefold()


def _code(value: Any) -> str:
    """Tax ids and postal codes: letters and digits only, upper case (`DE 123.456` is `DE123456`)."""
    return _NOT_ALNUM.sub("", str(value or "")).upper()


def _emails(values: Iterable[Any] | None) -> frozenset[str]:
    return frozenset(_text(v) for v in values or () if _text(v))


def _address(entry: Any) -> tuple[str, ...]:
    a = entry if isinstance(entry, dict) else {}
    return (
        _text(a.get("street_1")),
        _text(a.get("street_2")),
        _text(a.get("city")),
        _code(a.get("postal_code")),
        _code(a.get("country")),
    )


def _addresses(values: Iterable[Any] | None) -> list[tuple[str, ...]]:
    # The address type is left out: platforms map types differently (Merge has no "other").
    return sorted(addr for addr in (_address(v) for v in values or ()) if any(addr))


def echo_differences(sent: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """The identifying fields on which `found` is not what was `sent` (empty: it is the echo)."""
    differ: list[str] = []
    if not _text(sent.get("name")) or _text(sent.get("name")) != _text(found.get("name")):
        differ.append("name")
    if _code(sent.get("tax_number")) != _code(found.get("tax_number")):
        differ.append("tax_number")
    if _emails(sent.get("emails")) != _emails(found.get("emails")):
        differ.append("emails")
    if _addresses(sent.get("addresses")) != _addresses(found.get("addresses")):
        differ.append("addresses")
    return differ


def is_echo(sent: dict[str, Any], found: dict[str, Any], *, found_deleted: bool = False) -> bool:
    """True only when `found` carries exactly what was sent in name, tax id, emails and addresses."""
    return not found_deleted and not echo_differences(sent, found)


def first_echo(sent: dict[str, Any], candidates: Iterable[tuple[str, dict[str, Any], bool]]) -> str | None:
    """The id of the first true echo among (id, content, deleted) candidates, lowest id first for a stable
    choice when a duplicate already exists (the other copy then goes to review like any second copy)."""
    for key, content, deleted in sorted(candidates, key=lambda c: c[0]):
        if is_echo(sent, content, found_deleted=deleted):
            return key
    return None
