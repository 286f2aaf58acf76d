"""Name comparisons: company names as one string, person names part by part, and distinguishing words.

Each function returns a comparison level (see `model.DEFAULT_WEIGHTS`), not a weight, so that calibration and
learning can re-weight the levels without touching the rules.
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Indel, JaroWinkler

from contactsync.matching.model import Model
from contactsync.matching.normalise.persons import PersonName, family_word, nickname_group, ocr_fold, phonetic
from contactsync.matching.normalise.text import fold, key_word
from contactsync.matching.prepared import Prepared

# A name that is a subset of the other ("Acme" / "Acme Logistics") is not as good as an equal one.
_SUBSET_PENALTY = 8.0
_SHORT_NAME = 5

# Words that name a different legal entity of the same group when only one of two names has them: the
# holding, the administration or property company, the service or trading arm, a regional branch. Such a
# pair is never linked automatically (review at most), however much else agrees: these companies share
# an address, a switchboard and often a mailbox with the operating company.
_DISTINGUISHING_NATURAL = (
    "holding holdings verwaltung verwaltungs beteiligung beteiligungs beteiligungen management services service "
    "logistics logistik logistique logistiek immobilien immobilier properties property vastgoed trading handel "
    "international beheer gestion invest investments finanz finance capital leasing "
    "nord sud süd west ost north south east europe european midlands scotland wales noord zuid oost est ouest "
    # regions that name a branch: German and Austrian states, a few others
    "bayern sachsen rheinland westfalen hessen thüringen brandenburg baden württemberg niedersachsen holstein "
    "pfalz saarland mecklenburg tirol steiermark kärnten vorarlberg burgenland normandie bretagne provence "
    "vlaanderen wallonie holland friesland"
)
DISTINGUISHING = frozenset(key_word(w) for w in fold(_DISTINGUISHING_NATURAL).split())
_COUNTERPART = 0.8  # a word with a counterpart this similar on the other side is a typo, not a distinction


def name_similarity(a: Prepared, b: Prepared) -> float:
    """0-100: the best of word-order-free, subset-tolerant (penalised) and spacing-free comparisons."""
    if a.core == b.core:
        return 100.0
    sim = Indel.normalized_similarity(a.sorted_core, b.sorted_core) * 100.0
    subset = fuzz.token_set_ratio(a.core, b.core, processor=None) - _SUBSET_PENALTY
    squashed = Indel.normalized_similarity(a.core.replace(" ", ""), b.core.replace(" ", "")) * 100.0
    return max(sim, subset, squashed)


def company_name_level(a: Prepared, b: Prepared) -> tuple[str, float]:
    sim = name_similarity(a, b)
    if sim >= 100.0:
        return ("name:short_exact" if len(a.core) < _SHORT_NAME else "name:exact"), sim
    for bound, level in ((95.0, "name:s95"), (90.0, "name:s90"), (85.0, "name:s85"), (80.0, "name:s80")):
        if sim >= bound:
            return level, sim
    return ("name:s70" if sim >= 70.0 else "name:s60" if sim >= 60.0 else "name:low"), sim


def _typo(x: str, y: str) -> bool:
    """One keystroke apart (a letter changed, dropped, added, or two swapped) in a word of four or more, or
    the same once letter shapes a scanner confuses are read alike (also in a shorter word: "Arny" is Amy as
    a scanner read it, not another name), or one keystroke apart after that."""
    fx, fy = ocr_fold(x), ocr_fold(y)
    if (fx != x or fy != y) and fx == fy:
        return True
    if min(len(x), len(y)) < 4:
        return False
    if OSA.distance(x, y) <= 1:
        return True
    return (fx != x or fy != y) and OSA.distance(fx, fy) <= 1


# Name parts repeat across a batch's pairs (common given names and surnames, a household's members against
# each other), and a given-name pair may try typos against a whole nickname group; the word-pair levels are
# pure, so they are cached per pair of words rather than recomputed for every record pair.
_PAIR_CACHE = 32768


@lru_cache(maxsize=_PAIR_CACHE)
def _surname_pair(x: str, y: str) -> str:
    if x == y:
        return "surname:exact"
    jw = JaroWinkler.similarity(x, y)
    if jw >= 0.9 or _typo(x, y) or (jw >= 0.8 and phonetic(x) == phonetic(y)):
        return "surname:close"
    return "surname:near" if jw >= 0.8 else "surname:different"


_SURNAME_RANK = ("surname:exact", "surname:close", "surname:near", "surname:different")


def family_first(surname: tuple[str, ...]) -> tuple[str, ...]:
    """The surname words with the family word (`family_word`) first: a second given name read as a surname
    word ("Jean Pierre Martin" / "Jean Pierre Dupont") must not make two surnames agree."""
    if len(surname) < 2:
        return surname
    family = family_word(surname)
    if family == surname[0]:
        return surname
    return (family, *(w for w in surname if w != family))


def _surname_level(xs: tuple[str, ...], ys: tuple[str, ...]) -> str:
    """Each side's first surname word (the family word, see `family_first`) against the other's first three
    (a middle name, a double surname or a trade word may stand beside it), so that trade words alone
    ("Elektro") never make surnames agree."""
    best = len(_SURNAME_RANK) - 1
    for first, others in ((xs[0], ys[:3]), (ys[0], xs[:3])):
        for o in others:
            best = min(best, _SURNAME_RANK.index(_surname_pair(first, o)))
    return _SURNAME_RANK[best]


_GIVEN_RANK = ("given:exact", "given:nickname", "given:close", "given:initial", "given:different")


@lru_cache(maxsize=_PAIR_CACHE)
def _given_pair(x: str, y: str) -> str:
    if x == y:
        return "given:exact"
    if len(x) == 1 or len(y) == 1:
        return "given:initial" if x[0] == y[0] else "given:different"
    if y in nickname_group(x) or x in nickname_group(y):
        return "given:nickname"
    if any(_typo(n, y) for n in nickname_group(x)) or any(_typo(n, x) for n in nickname_group(y)):
        return "given:nickname"  # "Crhis" for Christopher
    jw = JaroWinkler.similarity(x, y)
    if jw >= 0.88 or _typo(x, y) or (jw >= 0.75 and phonetic(x) == phonetic(y)):
        return "given:close"
    return "given:different"


def _given_level(xs: tuple[str, ...], ys: tuple[str, ...]) -> str:
    if not xs or not ys:
        return "given:missing"
    best = len(_GIVEN_RANK) - 1
    for x in xs[:3]:
        for y in ys[:3]:
            best = min(best, _GIVEN_RANK.index(_given_pair(x, y)))
            if best == 0:
                return _GIVEN_RANK[0]
    return _GIVEN_RANK[best]


def middle_words(a: PersonName, b: PersonName) -> tuple[str, ...]:
    """The words of `a`'s surname that may be a middle name: all but the last, except those the other surname
    has, exactly or up to a typo. The first part of a double surname is such a word too: "Killerr-Rosenow"
    against "Killer-Rosenow" would otherwise compare "killerr" with "killer" as given names, a close given
    name, and Sybilla and Gundula of one household were linked."""
    return tuple(x for x in a.surname[:-1] if all(_surname_pair(x, y) not in _SAME_SURNAME_WORD for y in b.surname))


_SAME_SURNAME_WORD = frozenset({"surname:exact", "surname:close"})


def person_levels(a: PersonName, b: PersonName, model: Model) -> tuple[str, str, bool]:
    """(surname level, given-name level, whether the parts matched crosswise) for the better reading."""
    w = model.weights
    # Words that may be a middle name (surname words but the last, unless the other surname has them) count
    # as given names too.
    middle_a = middle_words(a, b)
    middle_b = middle_words(b, a)
    straight = (
        _surname_level(family_first(a.surname), family_first(b.surname)),
        _given_level(a.given + middle_a, b.given + middle_b),
    )
    best = straight
    best_w = w[straight[0]] + w[straight[1]]
    if a.given and b.given:
        # "Paul Thomas" against "Thomas Paul": read one side's given name as the surname and vice versa.
        crossed = (_surname_level(a.given, b.surname), _given_level(a.surname[:1], b.given))
        crossed_w = w[crossed[0]] + w[crossed[1]]
        if crossed_w > best_w:
            return crossed[0], crossed[1], True
    return best[0], best[1], False


def _has_counterpart(word: str, others: tuple[str, ...]) -> bool:
    if word in others:
        return True
    if len(word) < 4:
        return False
    return any(Indel.normalized_similarity(word, o) >= _COUNTERPART for o in others if len(o) >= 4)


def distinguishing_words(a: Prepared, b: Prepared) -> tuple[list[str], list[str]]:
    """Words of one company name with no counterpart in the other: (listed distinguishing words, other words).

    Legal forms are already apart from these tokens; group words ("Group", "Gruppe") are not distinguishing.
    """
    ta = a.tokens + a.descriptors
    tb = b.tokens + b.descriptors
    listed: list[str] = []
    other: list[str] = []
    for mine, theirs in ((ta, tb), (tb, ta)):
        for t in mine:
            if t in _GROUP_WORDS or len(t) < 2 or _has_counterpart(t, theirs):
                continue
            (listed if t in DISTINGUISHING else other).append(t)
    return listed, other


_GROUP_WORDS = frozenset(key_word(w) for w in ("group", "gruppe", "groupe", "grupo", "gruppo"))
