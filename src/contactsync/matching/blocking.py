"""Blocking keys: which pairs are worth comparing at all.

A key is a short string two records share only if they may well be the same company. The pipeline stores
each app contact's keys in an indexed column and finds a remote page's candidates with one query, so keys
must be computable from one record alone (no corpus statistics at write time), deterministic, and selective.

Kinds of key (the prefix before ':' names the kind):

- ``t:`` the tax id's number (without country prefix, so "DE136695976" meets "136695976"),
- ``e:`` each email address, ``d:`` each corporate (non-free-mail) email domain,
- ``p:`` each phone number in E.164,
- ``n:`` the whole name core squashed ("mueller-bau" meets "Müller Bau"),
- ``n2:`` sorted pairs of the core's most distinctive words (word order and extra words do not matter), and
  ``n2p:``/``n2s:`` the same pairs with one word cut to its first/last three letters, so a typo in one word
  still leaves a key in common,
- ``n1:`` for one-word names, the word and its single-letter deletions (symmetric deletion: one typo on
  either side still meets),
- ``pp:``/``pc:`` for a person's name (see `normalise.persons`): the phonetic key (Metaphone) of the surname
  (its first word and its family word) and of the first given name, each with the postcode's first three
  characters or with the town's phonetic key, so that a typo in one name part, the postcode or the town
  still leaves a key in common,
- ``ps:`` for a person's name, the phonetic key of each of the first two surname words with the given name's
  initial: a person who moved (or whose address is missing on one side) and whose given name has a typo in its
  first letters ("Adnre Steinmann", "G. Haase") keeps no other key,
- ``sd:`` for a person's name, the family word (the first surname word that is not a known given name, see
  `normalise.persons.family_word`) and its single-letter deletions (symmetric deletion, as ``n1:``), each
  with the given name's initial: a typo that changes the surname's phonetic key ("Wohmuth" for "Wohlmuth",
  "Bloc" for "Bloch", "Ficsher") still meets when the address is missing or changed on one side,
- ``a:`` postcode and house number, ``as:`` the street's phonetic key and house number, for people and for
  companies without tax id, email or phone: whose name is misspelt on one side still meet at their address;
  ``st:`` for the same records, the street's phonetic key, the postcode's first three characters and the first
  letter of one of the name's first three words: also when the house number is missing or mistyped on one side.

Words that say what a company does rather than who it is ("Consulting", "Bau", "Services"), and country
words, are left out of the name pairs when the name has other words: in a large tenant they would join
thousands of unrelated companies. This static list is the frequency-independent part. A key can still turn
out common in a given tenant (a franchise domain, a surname, a name part in a big town); `too_common` is
the one rule, used by the batch path and by the pipeline's candidate lookup alike, that sets such keys
aside (see there). Of the keys left, a record finds its candidates by its most selective ones, within a
budget of candidates (`finding_keys`), so that pairs compared grow with the remote side, not faster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import combinations, compress

from contactsync.matching.normalise.persons import family_word, ocr_fold, phonetic
from contactsync.matching.normalise.text import key_word
from contactsync.matching.prepared import Prepared

# Which keys are too common to find candidates by. The rule counts only the app side's records (the right
# side of a batch) holding a key: that count is what the pipeline can know for a remote page (an indexed
# count over the stored keys) and it does not depend on which remote contacts share a page, so the reconcile
# task and `contactsync match` set aside exactly the same keys. It also bounds the candidates a key gives
# each remote record, so pairs compared grow linearly with the remote side. The weak kinds (a name part cut to
# three letters, a phonetic name part with a town, a surname, phonetic or one letter off, with an initial, a
# street within a postcode area) have blocks that grow
# with the number of people per town or per surname; a block of more than a few app records on such a key is
# mostly namesakes, and a true pair in it nearly always shares a stronger key too (BENCHMARKS.md, "Matching").
# 20 keeps the strong kinds where the earlier limit of 400 pairs per block put them for a block of equal sides;
# 4 for the weak kinds was measured on person sets at 10k and 100k (BENCHMARKS.md).
HOLDER_LIMIT = 20
WEAK_HOLDER_LIMIT = 4
WEAK_KINDS = frozenset({"n2p", "n2s", "pc", "ps", "sd", "st"})
# How many app-side records a remote record's keys may bring it, summed over its keys, most selective first
# (see `finding_keys`). The holder limits bound each key; this bounds a record's candidates, which otherwise
# grew with the tenant (2.3 per record at 10k people, 4.3 at 100k) because every key's block grows. 8 rather
# than 10 since the surname-deletion and street keys: with them, 10 let pairs compared grow 15.6-16.0 times
# from 10k to 100k records, 8 grows them 14.0-14.4 times for 0.0001 of blocking recall (BENCHMARKS.md).
CANDIDATE_BUDGET = 8
# Kinds whose keys are one word's deletion neighbourhood: a record's keys of such a kind have nearly the same
# holders (everyone spelt like it holds them all), so against the budget they count as one key, the largest;
# counted one by one, a surname's nine keys used up the budget before an email or a name pair behind them.
# ``n1:`` is not among them: counted once, it added 1-8% more company pairs for no true pair.
NEIGHBOURHOOD_KINDS = frozenset({"sd"})
# Exact identifiers: a tax id or an email address that is usable (not `too_common`) always finds its holders,
# outside the budget. They are the strongest evidence a pair can share, and their blocks are bounded by
# `HOLDER_LIMIT` already; under the budget, a cheaper key ranked first (a switchboard number two other companies
# share) pushed a 7-holder email out, and the same company's app copy, found by nothing else, was created again
# on the platform (a 100,000-contact pipeline benchmark, BENCHMARKS.md).
IDENTIFIER_KINDS = frozenset({"t", "e"})

_GENERIC_NATURAL = (
    "services service solutions consulting consultants consultancy management systems technologies "
    "technology tech software digital media design marketing trading logistics logistik transport "
    "spedition handel "
    "handels bau immobilien verwaltung vertrieb industries industry industrie enterprises enterprise "
    "associates partners partner sons sohn söhne fils freres frères brothers gebruder gebrüder "
    "engineering technik elektro energy energie finance financial capital invest investments "
    "properties property real estate health care medical pharma foods food products produktion "
    "manufacturing works werke werk studio agency agentur store shop markt center centre "
    "beratung dienstleistungen service systeme anlagenbau maschinenbau automotive versicherung "
    "deutschland germany austria osterreich österreich schweiz switzerland suisse uk britain america usa "
    "france nederland netherlands europe european global worldwide national"
)
GENERIC_WORDS = frozenset(key_word(w) for w in _GENERIC_NATURAL.split())

_MIN_PARTIAL = 5  # a word shorter than this is not cut: three letters of a four-letter word is no key
_MIN_DELETE = 4  # single-letter deletions of very short words would collide with everything


def _anchors(tokens: tuple[str, ...]) -> list[str]:
    """The words that identify: not generic, not single letters; longest first (ties alphabetical)."""
    specific = [t for t in tokens if len(t) > 1 and t not in GENERIC_WORDS]
    if not specific:
        specific = [t for t in tokens if len(t) > 1] or list(tokens)
    return sorted(set(specific), key=lambda t: (-len(t), t))[:3]


def deletions(word: str) -> set[str]:
    """The word and each of its single-letter deletions: two words one typo apart (a letter replaced, added,
    dropped, or two neighbours swapped) share at least one of these."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def name_keys(tokens: tuple[str, ...]) -> set[str]:
    if not tokens:
        return set()
    keys = {"n:" + "".join(tokens)}
    anchors = _anchors(tokens)
    if len(anchors) == 1:
        word = anchors[0]
        keys.add("n1:" + word)
        if len(word) >= _MIN_DELETE:
            keys.update("n1:" + w for w in deletions(word))
        return keys
    for x, y in combinations(anchors, 2):
        a, b = (x, y) if x < y else (y, x)
        keys.add(f"n2:{a}|{b}")
        for whole, cut in ((a, b), (b, a)):
            if len(cut) >= _MIN_PARTIAL:
                keys.add(f"n2p:{whole}|{cut[:3]}")
                keys.add(f"n2s:{whole}|{cut[-3:]}")
    return keys


def _person_keys(p: Prepared, keys: set[str]) -> None:
    person = p.person
    if person is None:
        return
    family = family_word(person.surname)
    # The first surname word and the family word: "Jean Pierre Martin" may be Jean Pierre of the Martin family
    # or, rarely, John Thomas the plumber; both readings keep a key.
    words = [w for w in dict.fromkeys((person.surname[0], family, *person.given[:1])) if len(w) > 1]
    town = phonetic(p.city.split()[0])[:4] if p.city else ""
    for w in words:
        code = phonetic(w)
        if p.postal:
            keys.add(f"pp:{code}|{p.postal[:3]}")
        if town:
            keys.add(f"pc:{code}|{town}")
    initial = person.given[0][0] if person.given else ""
    if initial:
        keys.update(f"ps:{phonetic(w)}|{initial}" for w in person.surname[:2] if len(w) > 1)
        surname = ocr_fold(family)
        if len(surname) >= _MIN_DELETE:
            keys.update(f"sd:{w}|{initial}" for w in deletions(surname))


def _address_keys(p: Prepared, keys: set[str]) -> None:
    # Only for records a name typo could otherwise lose: people, and companies without any identifier (a
    # tax id, email or phone already gives the others a key that survives a misspelt name).
    if p.person is None and (p.tax is not None or p.emails or p.phones):
        return
    street = phonetic(max(p.street.split(), key=len))[:5] if p.street else ""
    if street and p.postal:
        # The street within a postcode area and the first letter of one of the name's first three words,
        # without the number: a number missing or mistyped on one side ("Höfigweg" against "Höfigweg 153a")
        # loses the two keys below. Without a letter the key joined every neighbour in the street, whom scoring
        # sends to review; one letter per word, because the two sides may not agree which word is the surname.
        keys.update(f"st:{street}|{p.postal[:3]}|{ocr_fold(t)[0]}" for t in p.tokens[:3])
    if not p.street_number:
        return
    if p.postal:
        keys.add(f"a:{p.postal}|{p.street_number}")
    if street:
        keys.add(f"as:{street}|{p.street_number}")


def prepared_keys(p: Prepared) -> set[str]:
    """All blocking keys of a prepared record."""
    keys = name_keys(p.tokens)
    _person_keys(p, keys)
    _address_keys(p, keys)
    if p.tax is not None and len(p.tax.number) >= 6:
        keys.add("t:" + p.tax.number)
    if p.emails:
        keys.update("e:" + e for e in p.emails)
        keys.update("d:" + d for d in p.domains)
    if p.phones:
        keys.update("p:" + ph for ph in p.phones)
    return keys


def key_kind(key: str) -> str:
    """The kind of a key: "t", "e", "d", "p", "n", "n1", "n2", "n2p", "n2s", "pp", "pc", "ps", "sd", "a", "as"
    or "st"."""
    return key.partition(":")[0]


def too_common(key: str, holders: int) -> bool:
    """Whether `key`, held by `holders` app-side records, is set aside for finding candidates."""
    return holders > (WEAK_HOLDER_LIMIT if key_kind(key) in WEAK_KINDS else HOLDER_LIMIT)


def common_keys(holders: Mapping[str, int]) -> set[str]:
    """The keys of `holders` (key -> number of app-side records holding it) that are `too_common`."""
    return {k for k, n in holders.items() if too_common(k, n)}


def finding_keys(keys: Iterable[str], holders: Callable[[str], int]) -> list[str]:
    """The keys a remote record finds its candidates by: its usable keys (held by someone, not `too_common`),
    the most selective first (fewest app-side holders, then by key), as long as their holders add up to at
    most `CANDIDATE_BUDGET` (the keys of one `NEIGHBOURHOOD_KINDS` kind adding only their largest count);
    the most selective one always, and every usable exact identifier (`IDENTIFIER_KINDS`) besides.

    A true pair nearly always shares one of the record's most selective keys (a tax id, an email, a rare name
    pair, a name at one postcode); the broad keys behind them add namesakes and neighbours. Like `too_common`,
    the rule reads only app-side holder counts of the record's own keys, which the pipeline knows for a page
    (every holder of a usable key is fetched), so the reconcile task and `contactsync match` compare the same
    pairs. `holders(key)` is 0 for a key no app record holds or one set aside as too common.
    """
    listed = list(keys)
    return chosen_keys(listed, [holders(k) for k in listed])


def chosen_keys(keys: Sequence[str], counts: Sequence[int]) -> list[str]:
    """`finding_keys` of `keys`, given each key's number of app-side holders (`counts[i]` is `keys[i]`'s).
    The batch's workers count a record's keys with C-level lookups (`map` over the counts' `get`)."""
    # `too_common` and `key_kind` written out: this runs for every remote record of a batch (a person has about
    # two dozen keys, some 17 of them held at 100k); the keys nobody holds are passed over by `compress`, in C.
    ranked: list[tuple[int, str, str]] = []
    for k, n in zip(compress(keys, counts), compress(counts, counts), strict=True):
        if n > 0:
            kind = k.partition(":")[0]
            if n <= (WEAK_HOLDER_LIMIT if kind in WEAK_KINDS else HOLDER_LIMIT):
                ranked.append((n, k, kind))
    ranked.sort()
    chosen: list[str] = []
    total = 0
    full = False  # the budget is spent: only identifiers still come in
    counted: dict[str, int] = {}  # per neighbourhood kind, the holders already counted
    for n, k, kind in ranked:
        cost = max(0, n - counted.get(kind, 0)) if kind in NEIGHBOURHOOD_KINDS else n
        if kind not in IDENTIFIER_KINDS and (full or (chosen and total + cost > CANDIDATE_BUDGET)):
            full = True
            continue
        chosen.append(k)
        total += cost
        if kind in NEIGHBOURHOOD_KINDS:
            counted[kind] = max(n, counted.get(kind, 0))
    return chosen
