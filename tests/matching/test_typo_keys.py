"""Blocking keys that survive a typo in the surname or a missing house number (`sd:` and `st:` keys)."""

from __future__ import annotations

from contactsync.matching import MatchRecord, blocking_keys
from contactsync.matching.blocking import deletions, key_kind


def person(name: str, street: str | None = None, postal: str | None = None, city: str | None = None) -> MatchRecord:
    return MatchRecord(id="x", name=name, street=street, postal_code=postal, city=city, country="DE")


def kinds(keys: frozenset[str], kind: str) -> set[str]:
    return {k for k in keys if key_kind(k) == kind}


def test_deletions_are_the_word_and_each_one_letter_shorter_form() -> None:
    assert deletions("bloch") == {"bloch", "loch", "boch", "blch", "bloh", "bloc"}
    # A replaced letter, an added one and two swapped neighbours each leave one form in common.
    assert deletions("wohlmuth") & deletions("wohmuth") == {"wohmuth"}
    assert deletions("kurz") & deletions("kuez") == {"kuz"}
    assert deletions("fischer") & deletions("ficsher") == {"fisher", "ficher"}


def test_surname_deletion_keys_carry_the_given_initial() -> None:
    keys = blocking_keys(person("Margaret Wohlmuth", "Aleksander-Ferstl-Platz 89", "3128", "Laa an der Thaya"))
    assert kinds(keys, "sd") == {
        "sd:wohlmuth|m",
        "sd:ohlmuth|m",
        "sd:whlmuth|m",
        "sd:wolmuth|m",
        "sd:wohmuth|m",
        "sd:wohluth|m",
        "sd:wohlmth|m",
        "sd:wohlmuh|m",
        "sd:wohlmut|m",
    }
    assert kinds(blocking_keys(person("Wohlmuth")), "sd") == set()  # no given name, no initial: no such key
    assert kinds(blocking_keys(person("Margaret Ott")), "sd") == set()  # too short to cut


def test_a_surname_typo_without_an_address_meets_by_the_surname_deletions() -> None:
    # The typo changes the surname's phonetic key and one side has no address: no other key is shared.
    home = person("Margaret Wohlmuth", "Aleksander-Ferstl-Platz 89", "3128", "Laa an der Thaya")
    assert blocking_keys(person("M. Wohmuth")) & blocking_keys(home) == {"sd:wohmuth|m"}
    assert blocking_keys(person("Bloc, Catherine")) & blocking_keys(person("Catherine Bloch")) >= {"sd:bloc|c"}
    # Another initial is another person as far as this key goes.
    assert not kinds(blocking_keys(person("P. Wohmuth")) & blocking_keys(home), "sd")
    assert not kinds(blocking_keys(person("M. Wolfram")) & blocking_keys(home), "sd")


def test_a_hyphenated_or_second_given_name_is_not_taken_for_the_surname() -> None:
    # "Anna-Luise Franke" is read as given name "anna" and surname words "luise franke"; the deletion keys are
    # built on "franke", so "Anna-Luise Löwer" elsewhere does not share them.
    franke = kinds(blocking_keys(person("Anna-Luise Franke")), "sd")
    assert "sd:franke|a" in franke and not any(k.startswith("sd:luise") for k in franke)
    assert not franke & kinds(blocking_keys(person("Anna-Luise Löwer Fotografie")), "sd")
    assert "sd:hering|h" in kinds(blocking_keys(person("Hans Jörg Hering Friseur")), "sd")


def test_a_street_without_its_number_meets_by_the_street_postcode_area_and_a_name_letter() -> None:
    full = blocking_keys(person("Anka Wirth", "Höfigweg 153a", "17459", "Gadebusch"))
    bare = blocking_keys(person("A. Wirzh", "Höfigweg", "17459", "Gadebusch"))
    assert kinds(full, "st") == {"st:HFKWK|174|a", "st:HFKWK|174|w"}
    assert kinds(bare, "st") == {"st:HFKWK|174|a", "st:HFKWK|174|w"}
    assert not kinds(bare, "a") and not kinds(bare, "as")  # no number: the address keys alone would miss it
    # Whichever word each side takes for the surname, a letter of the name is in common (and the family word,
    # Junck behind the second given name Adem, meets by its phonetic key in the postcode area).
    assert blocking_keys(person("Junck", "Antje-Oestrovsky-Allee 21", "35201")) & blocking_keys(
        person("Siglinde Adem Junck Fotografie", "Antje-Oestrovsky-Allee 12", "35201")
    ) == {"st:OSTRF|352|j", "pp:JNK|352"}
    # A neighbour in the same street whose name shares no first letter, and the same name in a street of the
    # same name in another postcode area, share no street key.
    assert not kinds(blocking_keys(person("Knud Lange", "Höfigweg 3", "17459", "Gadebusch")), "st") & full
    elsewhere = blocking_keys(person("Anka Wirth", "Höfigweg 153a", "80331", "München"))
    assert not kinds(elsewhere, "st") & full


def test_companies_with_an_identifier_get_no_street_key() -> None:
    plain = MatchRecord(id="c", name="Glaser GmbH", street="Höfigweg 3", postal_code="17459", country="DE")
    taxed = MatchRecord(
        id="c", name="Glaser GmbH", street="Höfigweg 3", postal_code="17459", country="DE", tax_number="DE136695976"
    )
    assert kinds(blocking_keys(plain), "st") == {"st:HFKWK|174|g"}
    assert kinds(blocking_keys(taxed), "st") == set()
