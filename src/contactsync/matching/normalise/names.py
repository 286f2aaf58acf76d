"""Company-name normalisation: fold, strip legal forms and descriptors, keep the core that identifies.

"Müller Bau G.m.b.H.", "Mueller Bau GmbH" and "MÜLLER BAU Gesellschaft mit beschränkter Haftung" all reduce
to the core tokens ("muller", "bau") with legal class "gmbh". The legal form is kept beside the core because
"Müller AG" and "Müller GmbH" may be different companies; descriptors such as "Holding" or "Group" are kept
too but do not take part in the core, since a renamed "Acme Holding Ltd" is routinely the same debtor as
"Acme Ltd".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from contactsync.matching.normalise import legalforms
from contactsync.matching.normalise.text import PER_COMPANY_CACHE, fold, key_word

# Connectives and articles in the languages we serve: '&', 'and', 'und', 'et' must compare equal, and the
# simplest way is for none of them to count.
STOP_WORDS = frozenset(
    {
        "and",
        "und",
        "et",
        "en",
        "y",
        "e",
        "the",
        "of",
        "der",
        "die",
        "das",
        "le",
        "la",
        "les",
        "de",
        "des",
        "du",
    }
)
# Words that describe a company's structure rather than name it; dropped from the core, kept as descriptors.
DESCRIPTORS = frozenset(
    key_word(w)
    for w in (
        "holding",
        "holdings",
        "group",
        "gruppe",
        "groupe",
        "grupo",
        "gruppo",
        "international",
        "intl",
        "beteiligungs",
        "beteiligungen",
        "verwaltungs",
    )
)

# Dots and apostrophes join rather than split, so "G.m.b.H." reads as "gmbh" and "McDonald's" as "mcdonalds":
# a name is split into chunks at everything else, and each chunk loses its joiners.
_CHUNKS = re.compile(r"[^a-z0-9'’`.]+")
_JOINERS = re.compile(r"['’`.]")
_MAX_FORM_TOKENS = 6


@dataclass(frozen=True, slots=True)
class NameNorm:
    tokens: tuple[str, ...]
    legal: str
    descriptors: tuple[str, ...]

    @property
    def core(self) -> str:
        return " ".join(self.tokens)


def tokens_of(text: str) -> list[str]:
    """Comparison-form tokens of a name, with connectives removed; '&' and '+' read as 'and'.

    A one-letter connective ("e", "y") that stands with its own dot, or first or last, joins nothing: it is
    an initial ("E. Jöbstl", "Zobel-Lorch, E."). Dropped, it turned a person's initial into no given name at
    all, and "E. Jöbstl" was linked to "Leo Jöbstl" of the same household as a missing given name would be.
    """
    folded = fold(text).replace("&", " and ").replace("+", " and ")
    chunks = [c for c in _CHUNKS.split(folded) if c]
    out = []
    for i, chunk in enumerate(chunks):
        t = _JOINERS.sub("", chunk)
        if not t:
            continue
        if t in STOP_WORDS and not (len(t) == 1 and (chunk.endswith(".") or i == 0 or i == len(chunks) - 1)):
            continue
        out.append(key_word(t))
    return out


def _build_forms() -> dict[str, str]:
    forms: dict[str, str] = {}
    for term in legalforms.cleanco_terms():
        toks = tokens_of(term)
        if toks:
            forms.setdefault("".join(toks), " ".join(toks))
    for canonical, spellings in legalforms.CANONICAL_FORMS.items():
        for spelling in spellings:
            toks = tokens_of(spelling)
            if toks:
                forms["".join(toks)] = canonical
    return forms


_FORMS = _build_forms()


def _strip_trailing(tokens: list[str]) -> tuple[list[str], list[str]]:
    """Remove legal forms from the end, longest first, repeatedly ("Foo GmbH & Co. KG i.L." style stacks)."""
    found: list[str] = []
    while len(tokens) > 1:
        for k in range(min(_MAX_FORM_TOKENS, len(tokens) - 1), 0, -1):
            form = _FORMS.get("".join(tokens[-k:]))
            if form is not None:
                found.append(form)
                del tokens[-k:]
                break
        else:
            break
    return tokens, found


@lru_cache(maxsize=PER_COMPANY_CACHE)
def normalise_name(name: str) -> NameNorm:
    """The core tokens, canonical legal form and descriptors of a company name."""
    tokens = tokens_of(name)
    tokens, found = _strip_trailing(tokens)
    while len(tokens) > 1:
        for k in range(min(_MAX_FORM_TOKENS, len(tokens) - 1), 0, -1):
            form = _FORMS.get("".join(tokens[:k]))
            if form is not None and form in legalforms.LEADING_FORMS:
                found.append(form)
                del tokens[:k]
                break
        else:
            break
    core = [t for t in tokens if t not in DESCRIPTORS]
    descriptors = tuple(t for t in tokens if t in DESCRIPTORS)
    if not core:  # "Holding AG": the descriptor is all there is, so it is the name.
        core, descriptors = tokens, ()
    # The innermost form (the one nearest the core) is the company's own; outer ones are rare stacking.
    legal = found[-1] if len(found) == 1 else (found[0] if found else "")
    return NameNorm(tuple(core), legal, descriptors)


def legal_family(form: str) -> str:
    """Canonical family of a legal form, so Inc./Corp. or Ltd/Pty Ltd do not count as a disagreement."""
    return legalforms.FAMILIES.get(form, form)
