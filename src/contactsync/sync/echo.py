"""Whether a contact found on the platform is the echo of a create we sent: the same record, not a namesake.

A create whose answer was lost is recognised later, in a walk or a look-up, by what it carried. A namesake (the
same name, another city, its own tax id) must never pass: adopting it links the app contact to a stranger and
leaves the app contact uncreated. So the name must come back equal, every identifying field both sides carry
must agree, and the found contact may not carry a tax id, email or street address that was not sent (platforms
do not invent those; a record that has them is somebody else's).

A field that was sent but did not come back is tolerated, as long as at least one other identifying field that
was sent (tax id, email, address) came back equal: real platforms drop what they cannot store (a tax id on a
platform without one, a second email, an address line) and a strict test would then never recognise the echo,
so the create would be sent again after the visibility lag — a duplicate. A namesake never passes this way: it
either disagrees on a field both carry, carries one we did not send, or agrees on nothing but the name.

Both sides are compared through the dialect's carried view (see `providers.registry.carried_content`), so a
field the platform cannot hold is not held against it.

Hand-written rather than the matcher: the matcher scores likeness between two independently kept records; this
recognises our own write, and only an exact one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from contactsync.textform import visible

_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def _plain(value: Any) -> str:
    """The text in its compatibility form (NFKC: full-width letters, ligatures and the like as their plain
    letters) without invisible format characters (zero-width spaces and joiners, direction marks), which
    platforms drop or keep as they please; what is left is what a reader of either record sees."""
    text = str(value or "")
    return text if text.isascii() else visible(unicodedata.normalize("NFKC", text))


def _text(value: Any) -> str:
    """Equal but for case, spacing and Unicode form (the way platforms re-space, re-case and re-encode what
    they store)."""
    return " ".join(_plain(value).split()).casefold()


def _code(value: Any) -> str:
    """Tax ids and postal codes: letters and digits only, upper case (`DE 123.456` is `DE123456`)."""
    return _NOT_ALNUM.sub("", _plain(value)).upper()


def _emails(values: Iterable[Any] | None) -> frozenset[str]:
    return frozenset(_text(v) for v in values or () if _text(v))


def _address(entry: Any) -> dict[str, str]:
    a = entry if isinstance(entry, dict) else {}
    parts = {
        "street_1": _text(a.get("street_1")),
        "street_2": _text(a.get("street_2")),
        "city": _text(a.get("city")),
        "postal_code": _code(a.get("postal_code")),
        "country": _code(a.get("country")),
    }
    return {k: v for k, v in parts.items() if v}


def _addresses(values: Iterable[Any] | None) -> list[dict[str, str]]:
    # The address type is left out: platforms map types differently (Merge has no "other").
    return [addr for addr in (_address(v) for v in values or ()) if addr]


def _same_place(a: dict[str, str], b: dict[str, str]) -> bool:
    """Two addresses agree when every part both carry is equal and they share a street or a city."""
    if any(a[k] != b[k] for k in a.keys() & b.keys()):
        return False
    return bool({"street_1", "city"} & a.keys() & b.keys())


def _locates(addresses: list[dict[str, str]]) -> bool:
    """An address that places a contact (a street or a city), not just a country a platform may default."""
    return any({"street_1", "city"} & a.keys() for a in addresses)


def echo_differences(sent: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """The identifying fields on which `found` is not what was `sent` (empty: it is the echo)."""
    differ: list[str] = []
    agree = 0
    if not _text(sent.get("name")) or _text(sent.get("name")) != _text(found.get("name")):
        differ.append("name")
    tax_sent, tax_found = _code(sent.get("tax_number")), _code(found.get("tax_number"))
    if tax_found and tax_found != tax_sent:
        differ.append("tax_number")
    agree += bool(tax_sent and tax_sent == tax_found)
    mails_sent, mails_found = _emails(sent.get("emails")), _emails(found.get("emails"))
    if mails_found - mails_sent:
        differ.append("emails")
    agree += bool(mails_sent & mails_found)
    addr_sent, addr_found = _addresses(sent.get("addresses")), _addresses(found.get("addresses"))
    if addr_found:
        matched = [a for a in addr_found if any(_same_place(a, b) for b in addr_sent)]
        if _locates(addr_found) and not matched:
            differ.append("addresses")
        agree += bool(matched)
    identifying_sent = bool(tax_sent or mails_sent or _locates(addr_sent))
    if identifying_sent and not agree and not differ:
        # Nothing but the name came back: no evidence this is ours rather than a bare namesake.
        differ.append("nothing but the name")
    return differ


def is_echo(sent: dict[str, Any], found: dict[str, Any], *, found_deleted: bool = False) -> bool:
    """True only when `found` is what was sent (see the module's rule), and not deleted."""
    return not found_deleted and not echo_differences(sent, found)


def first_echo(sent: dict[str, Any], candidates: Iterable[tuple[str, dict[str, Any], bool]]) -> str | None:
    """The id of the first true echo among (id, content, deleted) candidates, lowest id first for a stable
    choice when a duplicate already exists (the other copy then goes to review like any second copy)."""
    for key, content, deleted in sorted(candidates, key=lambda c: c[0]):
        if is_echo(sent, content, found_deleted=deleted):
            return key
    return None
