"""Field comparisons: each field of a pair ends in a named level, and the levels' weights are summed.

Each level's weight (see `model`) is the evidence in bits: roughly log2 of how much more often we would see
this agreement (or disagreement) between two records of the same contact than between two different ones
that happen to be candidates of each other (Fellegi-Sunter). Missing data on either side contributes
nothing: absence of evidence is neither for nor against.

Two rules stand beside the weights and keep a pair from an automatic link, whatever the sum (`Scored.cap`):

- two valid tax ids of the same kind and country that differ: two legal entities (the weight is also
  strongly negative, so such a pair rarely even reaches review);
- a distinguishing word (Holding, Verwaltung, Services, a region, ...) that only one company name has: the
  operating company and its holding or service company at one address share everything else;
- two person names whose given names or surnames differ (not a typo, nickname or initial): members of one
  household share the address and the surname.

Person names (both sides read as a person's) are compared part by part: surname and given name separately,
also crosswise, with nicknames, initials and phonetic keys; company names as one string. A calibrated model
also weighs an exact name by how common it is on the app side (`Model.frequency_bits`).

Street, postcode and town that all differ are one level, `MOVED`: a contact who moved (or another contact)
changes all three at once, and counting them as three independent pieces of evidence put every person who
moved, name for name the same, out of reach even of review.

Two person names whose surnames agree and whose given names differ down to their initials (and those of
their nicknames) are two people, not a typo: another member of the household shares the surname and the
address, so such a pair is not even worth a review, whatever the address adds (`Scored.dropped`; the
scoring loop drops it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import Indel

from contactsync.matching.model import DEFAULT_MODEL, Model
from contactsync.matching.namecompare import company_name_level, distinguishing_words, family_first, person_levels
from contactsync.matching.normalise.names import legal_family
from contactsync.matching.normalise.persons import PersonName, nickname_group
from contactsync.matching.normalise.taxids import contradicts, same_id
from contactsync.matching.prepared import Prepared

CAP_TAX = "different valid tax ids"
CAP_DISTINCT = "a distinguishing word only one name has"
CAP_PERSON = "different given names or surnames"
# Street, postcode and town all different: one event (the contact moved, or it is another contact), one level.
MOVED = "street:moved"
_MOVE_PARTS = ("postal:different", "city:different")


@dataclass(slots=True)
class Scored:
    """The weight of a pair, why it may not be linked automatically ("" if it may), and its levels."""

    weight: float
    cap: str
    levels: list[str]
    fields: dict[str, Any] | None = None
    # Why the pair is not even worth a review, whatever its weight ("" if it may be; see `other_person`).
    # The scoring loop drops such a pair.
    dropped: str = ""


NOT_REVIEWED_OTHER_PERSON = "given names with different initials: another person"


def _initials(name: PersonName, nicknames: bool) -> set[str]:
    """The first letters of the given names and of every word that may be a middle name (surname words but
    the last: wider than `person_levels`' middle words, since dropping a pair is final); with `nicknames`, also
    of their nicknames ("B." may be Bill, that is William)."""
    words = (*name.given[:3], *name.surname[:-1])
    if not nicknames:
        return {w[0] for w in words}
    return {x[0] for w in words for x in (w, *nickname_group(w))}


def other_person(a: PersonName, b: PersonName) -> bool:
    """Whether both names have given names and no initial of one side's is one of the other's: "Leandra
    Furrer" and "Hans Furrer" at one address are two members of the household, not a typo (a typo seldom hits
    the first letter). Against a bare initial the other side's nicknames count too: "B. Beyer" may be Bill,
    that is William Beyer. (Nicknames are not counted between full names: their groups are wide, "Anna"
    holds "Hannah" and "Savannah", and two full names would seldom differ down to the initial.)"""
    if not a.given or not b.given:
        return False
    a_initial = any(len(w) == 1 for w in a.given)
    b_initial = any(len(w) == 1 for w in b.given)
    if _initials(a, b_initial) & _initials(b, a_initial):
        return False
    return not any(short_form(x, y) for x in a.given[:3] for y in b.given[:3])


def short_form(x: str, y: str) -> bool:
    """Whether one of two given names may be a short form of the other that drops its first letters: Hans or
    Hannes for Johannes, Hana for Johanna, Lisa for Elisabeth, Tina for Christina, Bert for Robert. Their
    initials differ, yet they are one person; the nickname lists hold few of these beyond English. Such a
    pair stays a person's to decide (the given names still compare as different, so it is capped)."""
    short, long = (x, y) if len(x) <= len(y) else (y, x)
    return len(short) >= 3 and len(long) > len(short) and short[:3] in long[1:]


def _ratio(x: str, y: str) -> float:
    return 100.0 if x == y else Indel.normalized_similarity(x, y) * 100.0


def _one_off(x: str, y: str) -> bool:
    return len(x) == len(y) and sum(c != d for c, d in zip(x, y, strict=True)) == 1


def _exact_fields(a: Prepared, b: Prepared, levels: list[str]) -> str:
    """Levels of the fields compared by equality (tax id, country, email, phone, postcode, city); the cap."""
    cap = ""
    if a.tax is not None and b.tax is not None:
        ta, tb = a.tax, b.tax
        if same_id(ta, tb):
            levels.append("tax:same_valid" if ta.valid and tb.valid else "tax:same_unchecked")
        elif contradicts(ta, tb):
            levels.append("tax:contradiction")
            cap = CAP_TAX
        else:
            levels.append("tax:different")
    if a.country and b.country:
        levels.append("country:same" if a.country == b.country else "country:different")
    if a.emails and b.emails:
        shared = [e for e in a.emails if e in b.emails]
        if shared:
            free = all(e.rpartition("@")[2] not in a.domains for e in shared)
            levels.append("email:same_free" if free else "email:same_corporate")
        elif a.domains and b.domains:
            levels.append("email:domain_same" if any(d in b.domains for d in a.domains) else "email:domain_different")
        else:
            levels.append("email:free_different")
    if a.phones and b.phones:
        shared = [p for p in a.phones if p in b.phones]
        if shared:
            levels.append("phone:same" if any(p.startswith("+") for p in shared) else "phone:same_unparsed")
        else:
            levels.append("phone:different")
    if a.postal and b.postal:
        if a.postal == b.postal:
            levels.append("postal:same")
        elif _one_off(a.postal, b.postal):
            levels.append("postal:one_off")
        elif a.postal[:2] == b.postal[:2]:
            levels.append("postal:nearby")
        else:
            levels.append("postal:different")
    if a.city and b.city:
        if a.city == b.city or a.city.startswith(b.city + " ") or b.city.startswith(a.city + " "):
            levels.append("city:same")
        else:
            sim = _ratio(a.city, b.city)
            levels.append(
                "city:same"
                if sim >= 90
                else "city:similar"
                if sim >= 80
                else "city:other"
                if sim >= 70
                else "city:different"
            )
    return cap


def _street_level(a: Prepared, b: Prepared) -> str:
    sim = _ratio(a.street, b.street)
    if sim >= 80.0:
        if a.street_number and b.street_number:
            return "street:same" if a.street_number == b.street_number else "street:other_number"
        return "street:same_name"
    return "street:different" if sim < 60.0 else "street:other"


def _frequency(pa: PersonName, pb: PersonName, surname: str, given: str, model: Model) -> float:
    """The weights' adjustment for how common the agreeing surname and given name are (`Model.frequency_bits`)."""
    theirs = {*pb.given, *pb.surname[:3]}
    bits = 0.0
    taken = ""
    if surname == "surname:exact":
        taken = next((x for x in (*family_first(pa.surname)[:2], *pa.given[:1]) if x in theirs), "")
        if taken:
            bits += model.frequency_bits(surname, taken)
    if given == "given:exact":
        word = next((x for x in (*pa.given, *pa.surname[:-1]) if x in theirs and x != taken), "")
        if word:
            bits += model.frequency_bits(given, word)
    return bits


def compare(
    a: Prepared, b: Prepared, model: Model = DEFAULT_MODEL, floor: float | None = None, explain: bool = False
) -> Scored:
    """The evidence that `a` and `b` are the same contact.

    With `floor`, the name and street comparisons (the fuzzy, costly part) run only if the pair can still
    reach it; below, the returned weight is an upper bound under `floor`, not the exact sum. Explanations are
    built only with `explain`: formatting them for every candidate pair of a batch would cost more than the
    comparisons themselves.
    """
    w = model.weights
    levels: list[str] = []
    cap = _exact_fields(a, b, levels)
    if floor is not None:
        bound = sum(w[x] for x in levels) + model.late_max
        if all(x in levels for x in _MOVE_PARTS):
            bound += model.moved_gain
        if bound < floor:
            return Scored(bound, cap, levels)
    fields: dict[str, Any] | None = {} if explain else None
    extra = 0.0  # weight beyond the levels': distinguishing words, how common a name is
    dropped = ""
    if a.tokens and b.tokens:
        pa, pb = a.person, b.person
        if pa is not None and pb is not None and (a.person_known or b.person_known):
            surname, given, crossed = person_levels(pa, pb, model)
            levels += (surname, given)
            if model.name_u:
                extra = _frequency(pa, pb, surname, given, model)
            # Another given name at the same address and surname may be another member of the household (or
            # a typo beyond the given-name levels), and another surname may be a marriage: a person decides,
            # whatever the address adds up to. Given names without a common initial are another member.
            if (given == "given:different" or surname == "surname:different") and not cap:
                cap = CAP_PERSON
            if given == "given:different" and surname != "surname:different" and not crossed and other_person(pa, pb):
                dropped = NOT_REVIEWED_OTHER_PERSON
            if fields is not None:
                fields["name"] = {
                    "weight": round(w[surname] + w[given] + extra, 2),
                    "left": a.core,
                    "right": b.core,
                    "as": "person",
                    "surname": surname.partition(":")[2],
                    "given_name": given.partition(":")[2],
                    "crosswise": crossed,
                    "name_frequency": round(extra, 2),
                }
        else:
            level, sim = company_name_level(a, b)
            levels.append(level)
            if fields is not None:
                fields["name"] = {"weight": w[level], "left": a.core, "right": b.core, "similarity": round(sim, 1)}
            listed, other = distinguishing_words(a, b)
            if listed or other:
                # Each word counts; a word other than the listed ones by how rare it is in the tenant's data.
                extra = w["distinct:listed"] * len(listed) + w["distinct:other"] * sum(
                    2.0 * model.rarity(t) for t in other
                )
                levels.append("distinct:listed" if listed else "distinct:other")
                if listed and not cap:
                    cap = CAP_DISTINCT
                if fields is not None:
                    fields["distinguishing"] = {"weight": round(extra, 2), "listed": listed, "other": other}
            if a.legal and b.legal:
                levels.append("legal:same" if legal_family(a.legal) == legal_family(b.legal) else "legal:different")
    if a.street and b.street:
        street = _street_level(a, b)
        if street in ("street:different", "street:other") and all(x in levels for x in _MOVE_PARTS):
            # Counted as three pieces of evidence, a move would weigh three times; by default the level
            # weighs what the three did together ("other": street names alike only in their ending, as
            # "Thiesweg" and "Ulla-Heß-Weg" are), and calibration fits it as one.
            for x in _MOVE_PARTS:
                levels.remove(x)
            street = MOVED
        levels.append(street)
    total = extra
    for level in levels:
        if not level.startswith("distinct:"):
            total += w[level]
    if fields is not None:
        _explain_fields(a, b, model, levels, fields)
        if dropped:
            fields["not_reviewed"] = dropped
    return Scored(total, cap, levels, fields, dropped)


def _explain_fields(a: Prepared, b: Prepared, model: Model, levels: list[str], fields: dict[str, Any]) -> None:
    w = model.weights
    sides: dict[str, tuple[Any, Any]] = {
        "tax_id": (a.tax.canonical if a.tax else None, b.tax.canonical if b.tax else None),
        "country": (a.country, b.country),
        "email": (sorted(a.emails), sorted(b.emails)),
        "phone": (sorted(a.phones), sorted(b.phones)),
        "postal_code": (a.postal, b.postal),
        "city": (a.city, b.city),
        "street": (f"{a.street} {a.street_number}".strip(), f"{b.street} {b.street_number}".strip()),
        "legal_form": (a.legal, b.legal),
    }
    names = {"tax": "tax_id", "postal": "postal_code", "legal": "legal_form"}
    # The tax id's results keep the wording they had before levels existed (people and the review page read it).
    tax_results = {"same_valid": "same", "same_unchecked": "same", "contradiction": "different valid ids"}
    for level in levels:
        field, _, result = level.partition(":")
        key = names.get(field, field)
        if key in sides:
            left, right = sides[key]
            if field == "tax":
                result = tax_results.get(result, result)
            fields[key] = {"weight": w[level], "result": result, "left": left, "right": right, "level": level}
        if level == MOVED:
            for part in ("postal_code", "city"):
                left, right = sides[part]
                fields[part] = {"weight": 0.0, "result": "different", "left": left, "right": right, "level": level}
