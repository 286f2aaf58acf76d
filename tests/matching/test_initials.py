"""A one-letter connective ("e", "y") that is really a person's initial ("E. Jöbstl", "Zobel-Lorch, E.")."""

from __future__ import annotations

from contactsync.matching import DEFAULT_MODEL, MatchRecord, match_candidates
from contactsync.matching.compare import NOT_REVIEWED_OTHER_PERSON, compare
from contactsync.matching.normalise.names import normalise_name, tokens_of
from contactsync.matching.normalise.persons import PersonName, parse_person
from contactsync.matching.prepared import Prepared

HOME = {"street": "Jannis-Schaffer-Straße 135", "postal_code": "5642", "city": "Klagenfurt", "country": "AT"}


def rec(id: str, name: str) -> MatchRecord:
    return MatchRecord(id=id, name=name, **HOME)


def test_an_initial_e_or_y_is_kept() -> None:
    assert tokens_of("E. Jöbstl") == ["e", "jobstl"]
    assert tokens_of("É. Bailly") == ["e", "bailly"]
    assert tokens_of("Y. Braun") == ["y", "braun"]
    assert tokens_of("Jöbstl E") == ["jobstl", "e"]
    assert tokens_of("Klaus E. Müller") == ["klaus", "e", "muller"]


def test_a_connective_between_words_is_still_dropped() -> None:
    assert tokens_of("Rossi e Figli") == ["rosi", "figli"]
    assert tokens_of("Pérez y Cía") == ["perez", "cia"]
    assert normalise_name("Rossi e Figli S.r.l.").tokens == ("rosi", "figli")


def test_surname_comma_initial_reads_as_a_person() -> None:
    # Without the initial, "Zobel-Lorch, E." had no given name and was read loosely as given name "zobel".
    assert parse_person("Zobel-Lorch, E.") == PersonName(("e",), ("zobel", "lorch"))
    assert parse_person("E. Jöbstl") == PersonName(("e",), ("jobstl",))


def test_another_initial_in_the_household_is_not_linked() -> None:
    # Read as a surname alone, "E. Jöbstl" was linked to Leo Jöbstl at the same address.
    scored = compare(Prepared(rec("l1", "E. Jöbstl")), Prepared(rec("r1", "Leo Jöbstl")), DEFAULT_MODEL)
    assert scored.dropped == NOT_REVIEWED_OTHER_PERSON
    assert match_candidates([rec("l1", "E. Jöbstl")], [rec("r1", "Leo Jöbstl")]) == []
    decisions = match_candidates([rec("l1", "E. Jöbstl")], [rec("r1", "Elke Jöbstl")])
    assert [(d.right_id, d.decision) for d in decisions] == [("r1", "link")]
