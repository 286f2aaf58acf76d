"""Unicode folding shared by every text field.

Two spellings of the same word must fold to the same string: "Müller", "Mueller" and "MULLER" all occur for
one company, depending on the keyboard and the platform. anyascii transliterates any script to ASCII, but it
maps ü to u while German writers without the key type ue. We therefore expand the German letters first
(ü → ue, ß → ss) and then collapse the digraphs (ue → u, ae → a, oe → o, ss → s) in the comparison form, so
all three spellings meet. The collapse is lossy ("blue" → "blu") but applied identically to both sides, so it
costs a little distinctiveness and never a match.
"""

from __future__ import annotations

import re
from functools import lru_cache

from anyascii import anyascii

# Cache size for normalisers of values that belong to one company (names, phone numbers, addresses, tax ids).
# Such values rarely repeat across a tenant (5-17% hits on a benchmark set), so a large cache mostly holds
# raw strings nobody asks for again, several hundred megabytes for a batch of 100,000 contacts. A small cache
# still catches the same contact normalised twice in a row (a page retried, both sides of a test). Values
# that do repeat across companies (words, cities, countries) keep large caches.
PER_COMPANY_CACHE = 4096

_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS"})
_DIGRAPHS = re.compile(r"ae|oe|ue|ss")
_DIGRAPH_MAP = {"ae": "a", "oe": "o", "ue": "u", "ss": "s"}
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """Lower-case ASCII with German letters expanded (ü → ue) and every other script transliterated."""
    if text.isascii():
        return text.lower()
    return anyascii(text.translate(_GERMAN)).lower()


def collapse(word: str) -> str:
    """Map transliteration variants to one spelling: mueller, muller (and müller, via fold) → muller."""
    if "e" not in word and "ss" not in word:
        return word
    return _DIGRAPHS.sub(lambda m: _DIGRAPH_MAP[m.group(0)], word)


def words(text: str) -> list[str]:
    """Folded alphanumeric words; punctuation and whitespace separate words and are otherwise dropped."""
    return [w for w in _NON_ALNUM.split(fold(text)) if w]


@lru_cache(maxsize=65536)
def key_word(word: str) -> str:
    """The comparison form of one already folded word (cached: the same words recur across a tenant)."""
    return collapse(word)
