"""Phone numbers to E.164 with phonenumbers, using the contact's country as the default region.

"030 1234567" for a Berlin contact and "+49 30 1234567" are the same line; phonenumbers knows each country's
trunk and international prefixes. A number it cannot parse (no country known and no '+', or junk) falls back
to its digits, which still compare equal to the same junk on the other side but never to a parsed number.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from contactsync.matching.normalise.text import PER_COMPANY_CACHE

_NON_DIGIT = re.compile(r"\D")
_SEPARATORS = re.compile(r"[;,/]|\s{2,}")
_MIN_DIGITS = 6


@lru_cache(maxsize=PER_COMPANY_CACHE)
def normalise_phone(raw: str, country: str | None = None) -> str | None:
    """E.164 ("+49301234567") when parseable, else "#" + digits, else None for values with too few digits."""
    digits = _NON_DIGIT.sub("", raw)
    if len(digits) < _MIN_DIGITS:
        return None
    try:
        number = phonenumbers.parse(raw, region_of(country))
    except phonenumbers.NumberParseException:
        return "#" + digits
    if not phonenumbers.is_possible_number(number):
        return "#" + digits
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=PER_COMPANY_CACHE)
def dialled(raw: str, country: str | None = None) -> str | None:
    """`normalise_phone` with the extension kept ("+12125550100;ext=12"): two numbers reach the same desk only
    if both agree. Matching ignores extensions (a company's switchboard is its switchboard); a sync that took
    "555-0100 x12" and "555-0100" for one value would leave an extension written on one side only."""
    line = normalise_phone(raw, country)
    if line is None or line.startswith("#"):
        return line
    # Once more from its own E.164: a zero the number kept after the country code ("+49 (0) 0716 ...") is written
    # into E.164 ("+490716...") but read back without it where the country's numbers cannot start with one, so a
    # platform that stores E.164 hands back a number that parses otherwise than the one it was sent. (Matching's
    # keys stay as `normalise_phone` makes them: they are stored.)
    line = normalise_phone(line) or line
    extension = phonenumbers.parse(raw, region_of(country)).extension
    return f"{line};ext={extension}" if extension else line


def region_of(country: str | None) -> str | None:
    """The region phonenumbers reads a national number in: the contact's ISO alpha-2 country, if it is one."""
    return country.upper() if country and len(country) == 2 else None


def split_phones(raw: str, country: str | None = None) -> list[str]:
    """All numbers in a field that may hold several ("030 123456 / 0171 987654")."""
    out = []
    for part in _SEPARATORS.split(raw):
        phone = normalise_phone(part, country) if part.strip() else None
        if phone:
            out.append(phone)
    return out


# The kinds of phone line, in the words platforms and apps use for them: Xero's DEFAULT and DDI slots,
# QuickBooks' primary phone, Maesn's BUSINESS, OFFICE and PRIVATE enum values. A platform hands a line back in
# its own word for the kind written ("work" comes back as "BUSINESS"), so a line's type is compared by kind.
# Words not listed (LANDLINE, SKYPE, OTHER, an app's own) are each a kind of their own.
_PHONE_KINDS = {
    "work": ("work", "business", "office", "default", "ddi", "direct", "primary", "main", "phone", "telephone"),
    "mobile": ("mobile", "cell", "cellphone", "cellular", "mobil"),
    "fax": ("fax", "telefax", "facsimile"),
    "home": ("home", "private", "personal"),
}
_KIND_OF = {word: kind for kind, words in _PHONE_KINDS.items() for word in words}
_TYPE_NOISE = re.compile(r"[\s_\-]+")


def phone_kind(word: str | None) -> str | None:
    """The kind of line a phone type names: "Mobile", "CELL" and "mobile" are one kind, "BUSINESS" and "work"
    another; blank is none. A word not known is its own kind (case, spacing and underscores aside)."""
    if word is None:
        return None
    key = _TYPE_NOISE.sub("", word).casefold()
    if not key:
        return None
    kind = _KIND_OF.get(key)
    if kind is None and key.endswith("phone"):  # QuickBooks' PrimaryPhone, an app's "Mobile phone"
        kind = _KIND_OF.get(key.removesuffix("phone"))
    return kind or key
