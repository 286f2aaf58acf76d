"""Double given names: hyphenated ("Anna-Luise Franke") and written apart ("Jean Pierre Martin")."""

from __future__ import annotations

import pytest

from contactsync.matching import MatchRecord, blocking_keys
from contactsync.matching.blocking import key_kind
from contactsync.matching.compare import compare
from contactsync.matching.model import DEFAULT_MODEL
from contactsync.matching.namecompare import family_first, person_levels
from contactsync.matching.normalise.persons import PersonName, family_word, parse_person
from contactsync.matching.prepared import Prepared


def parsed(name: str) -> PersonName:
    p = parse_person(name)
    assert p is not None, name
    return p


def person(name: str, street: str = "", postal: str = "", city: str = "") -> MatchRecord:
    return MatchRecord(id="x", name=name, street=street or None, postal_code=postal or None, city=city or None)


@pytest.mark.parametrize(
    ("name", "given", "surname"),
    [
        ("Anna-Luise Franke", ("anna", "luise"), ("franke",)),
        ("Franke, Anna-Luise", ("anna", "luise"), ("franke",)),
        ("Franke Anna-Luise", ("anna", "luise"), ("franke",)),
        ("A.-L. Franke", ("a", "l"), ("franke",)),
        ("Jean-Pierre Martin", ("jean", "pierre"), ("martin",)),
        ("Fotografie Anna-Luise Franke", ("anna", "luise"), ("franke", "fotografie")),
        ("Anna-Luise Franke-Schmidt", ("anna", "luise"), ("franke", "schmidt")),
        # A hyphenated surname is not a given name: its parts are not all given names.
        ("Hans Müller-Lüdenscheid", ("hans",), ("muller", "ludenscheid")),
        # Written apart, the second given name stays among the surname words (it may be the surname).
        ("Jean Pierre Martin", ("jean",), ("pierre", "martin")),
    ],
)
def test_hyphenated_given_names_are_one_given_name(name: str, given: tuple[str, ...], surname: tuple[str, ...]) -> None:
    assert parsed(name) == PersonName(given, surname)


def test_the_family_word_skips_given_names_and_initials() -> None:
    assert family_word(parsed("Jean Pierre Martin").surname) == "martin"
    assert family_word(parsed("J. P. Martin").surname) == "martin"
    # Every word is a known given name ("Smith" is one too): the last is the family's.
    assert family_word(parsed("Mary Ann Smith").surname) == "smith"
    assert family_word(("franke",)) == "franke"
    assert family_first(("luise", "franke", "fotografie")) == ("franke", "luise", "fotografie")


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Jean Pierre Martin", "Jean Pierre Dupont"),
        ("Anna-Luise Franke", "Anna-Luise Löwer"),
        ("Anna Luise Franke", "Anna-Luise Löwer"),
        ("Mary Ann Smith", "Mary Ann Jones"),
    ],
)
def test_a_shared_second_given_name_does_not_make_surnames_agree(left: str, right: str) -> None:
    surname, _given, _crossed = person_levels(parsed(left), parsed(right), DEFAULT_MODEL)
    assert surname == "surname:different"


@pytest.mark.parametrize(
    ("left", "right", "given"),
    [
        ("Jean-Pierre Martin", "Martin, Jean Pierre", "given:exact"),
        ("Jean-Pierre Martin", "Jean Pierre Martin", "given:exact"),
        ("Jean-Pierre Martin", "J.-P. Martin", "given:initial"),
        ("Anna-Luise Franke", "Anna Franke", "given:exact"),
        ("Anna-Luise Franke", "Franke Anna-Luise", "given:exact"),
        ("Mary Ann Smith", "Smith, Mary", "given:exact"),
        # A surname that is also a given name, with a trade word behind it, still agrees with itself.
        ("John Thomas Plumbing", "John Thomas", "given:exact"),
    ],
)
def test_one_person_with_a_double_given_name_written_otherwise(left: str, right: str, given: str) -> None:
    assert person_levels(parsed(left), parsed(right), DEFAULT_MODEL)[:2] == ("surname:exact", given)


def test_the_second_given_name_does_not_decide_a_namesake_at_another_address() -> None:
    a = Prepared(person("Jean Pierre Martin", "12 rue Gilles", "75011", "Paris"))
    b = Prepared(person("Jean Pierre Dupont", "3 avenue Foch", "69002", "Lyon"))
    same = Prepared(person("Martin, Jean-Pierre", "12 rue Gilles", "75011", "Paris"))
    assert compare(a, b).weight < 0 < compare(a, same).weight


def test_keys_read_the_family_word() -> None:
    def kind(name: str, k: str, postal: str = "01099") -> set[str]:
        return {x for x in blocking_keys(person(name, "Hauptstraße 3", postal, "Dresden")) if key_kind(x) == k}

    # "Anna-Luise Franke" and "A. Franke" at one postcode meet by the surname's phonetic key.
    assert kind("Anna-Luise Franke", "pp") & kind("A. Franke", "pp")
    # No key joins every Anna-Luise by the second given name.
    assert not any("|a" in k and k.startswith("ps:LS") for k in kind("Anna-Luise Franke", "ps"))
    assert not kind("Anna-Luise Franke", "sd") & kind("Anna-Luise Löwer", "sd")
    # Written apart, both readings keep a key: Martin's family and Pierre's.
    assert kind("Jean Pierre Martin", "pp") & kind("Martin, J.", "pp")
    assert kind("John Thomas Plumbing", "pp") & kind("Thomas, John", "pp")
