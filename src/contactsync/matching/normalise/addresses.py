"""Addresses: country codes, postal codes and street spellings.

Countries arrive as "DE", "DEU", "Germany", "Deutschland" or "Allemagne". phonenumbers ships every region's
name in dozens of languages, which we fold into one lookup table; the alpha-3 codes and a few colloquial
names ("UK", "USA", "Holland") are not in it and are listed by hand.

Streets are compared after the usual abbreviations are mapped to one short form ("Hauptstraße", "Hauptstr.",
"Hauptstrasse" → "hauptstr"; "Main Street", "Main St." → "main st") and the house number is split off, since
a different number on the same street is a different building but the same street spelled two ways is not.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import phonenumbers

from contactsync.matching.normalise.text import PER_COMPANY_CACHE, fold, key_word, words

_ALIASES = {
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "usa": "US",
    "u s a": "US",
    "u s": "US",
    "united states of america": "US",
    "america": "US",
    "holland": "NL",
    "the netherlands": "NL",
    "deutschland brd": "DE",
    "brd": "DE",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "osterreich": "AT",
}
_ALPHA3 = {
    "DEU": "DE", "AUT": "AT", "CHE": "CH", "GBR": "GB", "USA": "US", "FRA": "FR", "NLD": "NL",
    "BEL": "BE", "LUX": "LU", "ITA": "IT", "ESP": "ES", "PRT": "PT", "IRL": "IE", "DNK": "DK",
    "SWE": "SE", "NOR": "NO", "FIN": "FI", "POL": "PL", "CZE": "CZ", "SVK": "SK", "HUN": "HU",
    "SVN": "SI", "HRV": "HR", "ROU": "RO", "BGR": "BG", "GRC": "GR", "CAN": "CA", "AUS": "AU",
    "NZL": "NZ", "LIE": "LI", "TUR": "TR", "CHN": "CN", "JPN": "JP", "IND": "IN", "BRA": "BR",
    "MEX": "MX", "ZAF": "ZA", "ISR": "IL", "ARE": "AE", "SGP": "SG", "HKG": "HK", "EST": "EE",
    "LVA": "LV", "LTU": "LT", "MLT": "MT", "CYP": "CY", "ISL": "IS",
}  # fmt: skip


def _locale_data() -> Mapping[str, Mapping[str, str]]:
    """phonenumbers' country names by language, without its geocoding data.

    `phonenumbers.geodata.locale` sits in a package whose `__init__` loads the place names of every phone
    prefix in the world: about 90 MB in every worker process (a third of its memory) and a quarter of a second
    at start, of which this module needs none. So the one file is run as a module of its own, outside its
    package: its only import (`from ..util import u`) resolves to `phonenumbers.util` without loading
    `phonenumbers.geodata`, and its compiled bytecode is used when installed (about 30 ms; parsing its 600 KB
    of source instead took over a second of every process's start). Should phonenumbers move the file, the
    import is the fallback.
    """
    path = Path(phonenumbers.__file__).parent / "geodata" / "locale.py"
    spec = importlib.util.spec_from_file_location("phonenumbers.geodata.locale", path)
    if spec is not None and spec.loader is not None and path.is_file():
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        data = getattr(module, "LOCALE_DATA", None)
        if isinstance(data, dict) and data:
            return data
    from phonenumbers.geodata.locale import LOCALE_DATA

    return LOCALE_DATA


def _build_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for region, by_lang in _locale_data().items():
        for name in by_lang.values():
            if name and not name.startswith("*"):
                names.setdefault(" ".join(words(name)), region)
    names.update(_ALIASES)
    return names


_NAMES = _build_names()


@lru_cache(maxsize=4096)
def country_code(raw: str) -> str | None:
    """ISO 3166-1 alpha-2 for a code or a country name in any common language, else None."""
    value = raw.strip()
    upper = value.upper()
    if len(upper) == 2 and upper.isalpha():
        if upper == "UK":
            return "GB"
        return upper if upper in phonenumbers.SUPPORTED_REGIONS or upper == "XK" else None
    if len(upper) == 3 and upper in _ALPHA3:
        return _ALPHA3[upper]
    return _NAMES.get(" ".join(words(value)))


_POSTAL_PREFIX = re.compile(r"^(?:[A-Z]{1,2}-)(?=\d)")
_NON_ALNUM = re.compile(r"[^A-Z0-9]")


def normalise_postal_code(raw: str) -> str | None:
    """Upper-case alphanumerics, with the old country prefixes ("D-80331", "CH-8001", "A-1010") removed."""
    value = _POSTAL_PREFIX.sub("", raw.strip().upper())
    value = _NON_ALNUM.sub("", value)
    return value or None


# Street words to one short form. Applied to whole words, and to German compound endings ("Hauptstraße").
_STREET_WORDS_NATURAL = {
    "strasse": "str",
    "str": "str",
    "straat": "str",
    "street": "st",
    "st": "st",
    "road": "rd",
    "rd": "rd",
    "avenue": "av",
    "ave": "av",
    "av": "av",
    "boulevard": "bd",
    "blvd": "bd",
    "bd": "bd",
    "drive": "dr",
    "dr": "dr",
    "lane": "ln",
    "ln": "ln",
    "place": "pl",
    "platz": "pl",
    "pl": "pl",
    "plein": "pl",
    "square": "sq",
    "sq": "sq",
    "court": "ct",
    "ct": "ct",
    "gasse": "g",
    "weg": "weg",
    "allee": "al",
    "rue": "r",
    "chemin": "ch",
    "route": "rte",
    "rte": "rte",
    "laan": "ln",
    "gracht": "gr",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}
# Keys in comparison form ("rue" becomes "ru" there), so lookups need no second folding.
_STREET_WORDS = {key_word(k): v for k, v in _STREET_WORDS_NATURAL.items()}
_COMPOUND_SUFFIXES = tuple(
    (key_word(s), r)
    for s, r in (("strasse", "str"), ("str", "str"), ("straat", "str"), ("platz", "pl"), ("gasse", "g"))
)
_NUMBER = re.compile(r"^\d+[a-z]?$")


@dataclass(frozen=True, slots=True)
class StreetNorm:
    name: str  # street words in short form, without the house number
    number: str  # the first house number found, "" if none


@lru_cache(maxsize=65536)
def _street_word(word: str) -> str:
    """One street word's short form (cached: street words recur across a tenant, "str", "weg", "road")."""
    word = key_word(word)
    short = _STREET_WORDS.get(word)
    if short is not None:
        return short
    for suffix, replacement in _COMPOUND_SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + replacement
    return word


@lru_cache(maxsize=PER_COMPANY_CACHE)
def normalise_street(raw: str) -> StreetNorm | None:
    """Street name words and house number: "Hauptstraße 12a" → ("hauptstr", "12a")."""
    tokens = [t for t in re.split(r"[^a-z0-9]+", fold(raw).replace(".", " ")) if t]
    if not tokens:
        return None
    number = ""
    name_words = []
    previous_was_number = False
    for token in tokens:
        if _NUMBER.match(token):
            if not number:
                number = token
                previous_was_number = True
                continue
        elif previous_was_number and len(token) == 1 and number.isdigit():
            number += token  # "12 a" is house number 12a
        else:
            name_words.append(_street_word(token))
        previous_was_number = False
    return StreetNorm(" ".join(name_words), number)


@lru_cache(maxsize=65536)
def normalise_city(raw: str) -> str | None:
    """Folded city words: "München" and "Muenchen" → "munchen"; "St. Gallen" → "st galen"."""
    tokens = [key_word(t) for t in words(raw)]
    return " ".join(tokens) or None
