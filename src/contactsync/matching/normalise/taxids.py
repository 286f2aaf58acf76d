"""VAT and tax identifiers: compact, find the country, validate with python-stdnum.

The same id arrives as "DE 136 695 976", "de136695976" or "136695976" (the prefix dropped because the
contact's country is known). We compact it, take the country from its prefix or, failing that, from the
contact, and validate it with that country's stdnum module: `stdnum.gb.vat` for the United Kingdom (and XI for
Northern Ireland), `stdnum.<cc>.vat` and friends for Europe, `stdnum.us.ein` for US employer ids.

Validity matters for how much an id counts: two *valid* ids of the same kind that differ are near-proof of
two different companies, whereas an invalid value may be a typo, a customer number typed into the wrong
field, or a national tax number beside a VAT id, so disagreement there is only mild evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from stdnum import get_cc_module
from stdnum.us import ein

from contactsync.matching.normalise.text import PER_COMPANY_CACHE

_NON_ALNUM = re.compile(r"[^A-Z0-9]")
# VAT prefixes that are not the ISO country code.
_PREFIX_TO_COUNTRY = {"EL": "GR", "XI": "GB"}
# Swiss ids are written "CHE-116.281.710 MWST" (or TVA / IVA): the suffix names the tax, not the number.
_CH_SUFFIX = re.compile(r"(MWST|TVA|IVA)$")


@dataclass(frozen=True, slots=True)
class TaxId:
    country: str  # ISO 3166-1 alpha-2, or "" when unknown
    number: str  # the id without country prefix, upper-case alphanumerics
    valid: bool
    kind: str  # "vat", "ein" or "unknown"

    @property
    def canonical(self) -> str:
        return f"{self.country}{self.number}" if self.country else self.number


@lru_cache(maxsize=64)
def _vat_module(country: str) -> Any:
    try:
        # Swiss VAT numbers are the company's UID plus a tax suffix; stdnum.ch.uid validates the UID itself.
        return get_cc_module(country.lower(), "uid" if country == "CH" else "vat")
    except Exception:  # stdnum raises plain ImportError-like errors for unknown codes
        return None


def _validate_vat(country: str, number: str) -> str | None:
    """The number part of a valid VAT id for this country, or None."""
    module = _vat_module(country)
    if module is None:
        return None
    prefix = {"GR": "EL", "CH": "CHE"}.get(country, country)
    try:
        compact = str(module.validate(prefix + number))
    except Exception:  # any stdnum ValidationError: the id is not valid for this country
        try:
            compact = str(module.validate(number))
        except Exception:
            return None
    compact = _NON_ALNUM.sub("", compact.upper())
    for p in (prefix, "CHE"):
        if compact.startswith(p):
            compact = compact[len(p) :]
    return _CH_SUFFIX.sub("", compact)


# stdnum's EIN check is a format test plus a look-up of the two-digit prefix in its campus table, which it
# reads again on every call (about 70 µs); the valid prefixes are taken from stdnum itself, once.
_EIN_PREFIXES = frozenset(p for p in (f"{i:02d}" for i in range(100)) if ein.is_valid(p + "0000000"))


def ein_valid(compact: str) -> bool:
    """`stdnum.us.ein.is_valid` for a value already reduced to upper-case letters and digits."""
    return len(compact) == 9 and compact.isdigit() and compact[:2] in _EIN_PREFIXES


@lru_cache(maxsize=PER_COMPANY_CACHE)
def normalise_tax_id(raw: str, country: str | None = None) -> TaxId | None:
    """Parse a tax id; `country` (ISO alpha-2) is used when the value carries no prefix."""
    compact = _NON_ALNUM.sub("", raw.upper())
    if len(compact) < 4:
        return None
    hint = (country or "").upper()
    prefix = compact[:2]
    if prefix.isalpha() and (prefix in _PREFIX_TO_COUNTRY or _vat_module(prefix) is not None):
        cc = _PREFIX_TO_COUNTRY.get(prefix, prefix)
        rest = compact[2:]
        if cc == "CH" and rest.startswith("E"):
            rest = rest[1:]
        rest = _CH_SUFFIX.sub("", rest) if cc == "CH" else rest
        number = _validate_vat(cc, rest)
        if number is not None:
            return TaxId(cc, number, True, "vat")
        return TaxId(cc, rest, False, "unknown")
    if hint == "US" or (not hint and len(compact) == 9 and "-" in raw and raw.index("-") == 2):
        if ein_valid(compact):
            return TaxId("US", compact, True, "ein")
        return TaxId("US", compact, False, "unknown")
    if hint:
        number = _validate_vat(hint, compact)
        if number is not None:
            return TaxId(hint, number, True, "vat")
    return TaxId(hint, compact, False, "unknown")


def contradicts(a: TaxId, b: TaxId) -> bool:
    """Both ids are valid, of the same kind and country, and different: two different legal entities."""
    return a.valid and b.valid and a.kind == b.kind and a.country == b.country and a.number != b.number


def same_id(a: TaxId, b: TaxId) -> bool:
    """The same number, whether or not one side kept the country prefix (countries must not disagree)."""
    return a.number == b.number and (not a.country or not b.country or a.country == b.country)
