"""Person names: tell a person ("Hans Müller", "Müller, Hans", "J. Smith Plumbing") from a company, and split it.

Sole traders, freelancers and private customers are a large share of a small business's books, and their
rows carry a name and an address and little else. A company name is compared as one string; a person's
name is compared part by part (given name, surname, in either order), because "Smith, John", "John Smith"
and "J. Smith" are one person while "Anna Müller" and "Peter Müller" at the same address are two.

A name is taken as a person's when it has no legal form and no connective ("&", "und") and either is written
"Surname, Given" or has a word that is a known given name (or an initial) among at most four words. The
given names are those Faker ships for the locales we serve plus the `nicknames` data set; both are
maintained word lists, and a name missing from them only means the record is compared as a company would be.
Given names and surname are split by that list: the known given names (and initials) at the start or, for
"Surname Given", at the end are the given names; the other words are the surname and, for sole traders, a
trade ("Müller Elektro"), which the comparison treats as optional.

A hyphenated given name ("Anna-Luise", "Jean-Pierre", "A.-L.") is one given name of several words: its parts
are all given names. Two given names written apart ("Jean Pierre Martin", "Mary Ann Smith") cannot be told
from a given name and a surname that is also a given name followed by a trade ("John Thomas Plumbing"), so
the second word stays among the surname words, and comparisons and keys read the surname by its family word
(`family_word`): the first surname word that is not a known given name.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import jellyfish
from nicknames import name_triplets

from contactsync.matching.normalise.names import normalise_name, tokens_of
from contactsync.matching.normalise.text import PER_COMPANY_CACHE, fold, key_word

_FAKER_LOCALES = ("de_DE", "de_AT", "de_CH", "en_GB", "en_US", "en_IE", "fr_FR", "nl_NL", "it_IT", "es_ES", "pl_PL")
# Owner prefixes and titles in front of or inside a sole trader's name, and surname particles (often dropped
# or misspelt): left out of the name parts.
_NOISE_WORDS = frozenset(
    key_word(w)
    for w in [
        "inh",
        "inhaber",
        "inhaberin",
        "dba",
        "ta",
        "eigenaar",
        "owner",
        "prop",
        "dr",
        "prof",
        "mr",
        "mrs",
        "ms",
        "miss",
        "herr",
        "frau",
        "mme",
        "mlle",
        "dipl",
        "ing",
        "van",
        "von",
        "vom",
        "zu",
        "ter",
        "ten",
        "den",
        "da",
        "di",
        "del",
    ]
)
# Words that put the owner behind a trade ("Tischlerei Inh. Hirsch", "Landscaping dba Crawford").
_OWNER_WORDS = frozenset(key_word(w) for w in ("inh", "inhaber", "inhaberin", "dba", "ta", "eigenaar", "owner", "prop"))
_CONNECTIVE = re.compile(r"[&+]|\b(und|and|et|en)\b", re.IGNORECASE)
_MAX_WORDS = 5


@cache
def given_names() -> frozenset[str]:
    """Known given names in comparison form (folded, digraphs collapsed)."""
    names: set[str] = set()
    for loc in _FAKER_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
        for attr in ("first_names", "first_names_male", "first_names_female"):
            names.update(getattr(provider, attr, ()))
    for triplet in name_triplets():
        names.update((triplet.name1, triplet.name2))
    out = set()
    for n in names:
        out.update(tokens_of(n))
    return frozenset(t for t in out if len(t) > 1)


@cache
def _nicknames() -> dict[str, frozenset[str]]:
    """Name -> its nicknames and canonical forms, in comparison form ("sue" and "susan" are "su", "susan")."""
    related: dict[str, set[str]] = {}
    for triplet in name_triplets():
        a, b = key_word(triplet.name1), key_word(triplet.name2)
        related.setdefault(a, set()).add(b)
        related.setdefault(b, set()).add(a)
    return {k: frozenset(v) for k, v in related.items()}


def nickname_group(word: str) -> frozenset[str]:
    """The names that stand for the same given name as `word` ("bill" → william, will, billy, ...)."""
    return _nicknames().get(word, frozenset())


_OCR = (("rn", "m"), ("cl", "d"), ("vv", "w"), ("0", "o"), ("1", "l"), ("ii", "u"))


@lru_cache(maxsize=65536)
def ocr_fold(word: str) -> str:
    """The word with letter shapes that scanners confuse read one way (rn → m, cl → d, 0 → o, ...)."""
    for wrong, right in _OCR:
        if wrong in word:
            word = word.replace(wrong, right)
    return word


@lru_cache(maxsize=65536)
def phonetic(word: str) -> str:
    """A phonetic key of one word (Metaphone; NYSIIS for words Metaphone reduces to nothing)."""
    return jellyfish.metaphone(word) or jellyfish.nysiis(word)


@dataclass(frozen=True, slots=True)
class PersonName:
    given: tuple[str, ...]  # given names, an initial as a one-letter word; may be empty
    surname: tuple[str, ...]  # surname words, then any trade words of a sole trader


def _owner_first(words: Sequence[str]) -> list[str]:
    """The words with a trade in front of an owner word moved behind the owner's name ("Tischlerei Inh. Hirsch"
    → "Hirsch Tischlerei"): read in written order, the trade would be taken for a given name, and a sole
    trader's record would look like another member of the household."""
    joined = " ".join(words)
    if " t a " in f" {joined} ":  # "t/a" (trading as), split by the tokeniser
        words = f" {joined} ".replace(" t a ", " ta ").split()
    for i, w in enumerate(words):
        if w in _OWNER_WORDS and 0 < i < len(words) - 1:
            return [t for t in (*words[i + 1 :], *words[:i]) if t not in _NOISE_WORDS]
    return [t for t in words if t not in _NOISE_WORDS]


def _is_given(word: str) -> bool:
    return len(word) == 1 or word in given_names()


_HYPHENATED = re.compile(r"[^\W\d_]+\.?(?:\s*-\s*[^\W\d_]+\.?)+")


def _compounds(raw: str) -> list[tuple[str, ...]]:
    """The hyphenated groups of `raw` whose parts are all given names or initials ("Anna-Luise", "A.-L."), as
    comparison-form words. A hyphenated surname ("Müller-Lüdenscheid") is not one: its parts are not all
    given names."""
    out = []
    for m in _HYPHENATED.finditer(fold(raw)):
        parts = tuple(t for part in m.group().split("-") for t in tokens_of(part))
        if len(parts) >= 2 and all(_is_given(t) for t in parts):
            out.append(parts)
    return out


def _compound_at(words: Sequence[str], i: int, compounds: list[tuple[str, ...]]) -> int:
    """The length of the hyphenated given name that starts at `words[i]` (1 if none)."""
    for c in compounds:
        if tuple(words[i : i + len(c)]) == c:
            return len(c)
    return 1


def family_word(surname: tuple[str, ...]) -> str:
    """The word of `surname` that names the family: the first of the first three that is not a known given
    name (nor an initial), else the last of them. A second given name ("Jean Pierre Martin", "Mary Ann
    Smith") stands first among the surname words, and read as the surname it makes namesakes of the given
    name ("Jean Pierre Dupont") agree; many surnames are given names too ("Smith", "Thomas"), hence the last
    word when all are. A trade word that follows a surname that is also a given name ("John Thomas Plumbing")
    is taken instead; comparisons therefore still look at the other surname words."""
    head = surname[:3]
    return next((w for w in head if len(w) > 1 and w not in given_names()), head[-1])


@lru_cache(maxsize=PER_COMPANY_CACHE)
def parse_person(raw: str) -> PersonName | None:
    """The person's name parts, or None when the name reads as a company's."""
    if _CONNECTIVE.search(fold(raw)):
        return None
    head, comma, tail = raw.partition(",")
    if comma and tail.strip() and not normalise_name(head).legal:
        # "Keijser, S.": the initial's dot must not read as a legal form ("S." is one in some countries).
        surname = _owner_first(tokens_of(head))
        given = [t for t in tokens_of(tail) if t not in _NOISE_WORDS]
        if surname and given and len(surname) + len(given) <= _MAX_WORDS and not any(c.isdigit() for c in raw):
            return PersonName(tuple(given), tuple(surname))
        return None
    norm = normalise_name(raw)
    if norm.legal or not norm.tokens:
        return None
    owner = any(t in _OWNER_WORDS for t in norm.tokens[1:-1])
    words = _owner_first(norm.tokens)
    if not 2 <= len(words) <= _MAX_WORDS or any(w.isdigit() for w in words):
        return None
    if owner and not _is_given(words[0]) and not _is_given(words[-1]):
        # "Tischlerei Inh. Hirsch": the owner's surname and the trade; the given name is missing.
        return PersonName((), tuple(words))
    compounds = _compounds(raw) if "-" in raw else []
    # Only the first word (or hyphenated given name) is taken as the given name: many surnames are given
    # names too ("Keith Riley", "Catherine Reinhardt"), so a middle name stays among the surname words and
    # the comparison looks at the first two of them.
    if _is_given(words[0]):
        n = _compound_at(words, 0, compounds)
        if n < len(words):
            return PersonName(tuple(words[:n]), tuple(words[n:]))
    # "Elektro Hans Müller": a trade first, then the person; the trade goes behind the surname.
    for i in range(1, len(words) - 1):
        if words[i] in given_names():
            n = _compound_at(words, i, compounds)
            if i + n < len(words):
                return PersonName(tuple(words[i : i + n]), tuple(words[i + n :] + words[:i]))
    for c in compounds:  # "Franke Anna-Luise"
        if len(c) < len(words) and tuple(words[-len(c) :]) == c:
            return PersonName(c, tuple(words[: -len(c)]))
    if _is_given(words[-1]):  # "Müller Hans"
        return PersonName((words[-1],), tuple(words[:-1]))
    return None


def loose_person(tokens: tuple[str, ...]) -> PersonName | None:
    """A short name without legal form read as "Given Surname" (a typo may hide the given name from the list),
    or one word as a surname alone."""
    words = _owner_first(tokens)
    if not 1 <= len(words) <= 3 or any(w.isdigit() for w in words):
        return None
    if len(words) == 1:  # a surname alone: the given name is missing
        return PersonName((), (words[0],))
    return PersonName((words[0],), tuple(words[1:]))
