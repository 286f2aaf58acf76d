"""A double surname with a typo in one part: its first part is not a middle name to hold against the other
side's, so two members of one household are not read as one person with a close given name."""

from __future__ import annotations

from contactsync.matching import DEFAULT_MODEL, MatchRecord, match_candidates
from contactsync.matching.compare import CAP_PERSON, compare
from contactsync.matching.namecompare import middle_words, person_levels
from contactsync.matching.normalise.persons import PersonName
from contactsync.matching.prepared import Prepared

HOME = {"street": "Christophgasse 122a", "postal_code": "22525", "city": "Hannoversch Münden", "country": "DE"}


def person(name: str) -> PersonName:
    """The name as a record reads it (a mistyped given name is read loosely, see `Prepared.person`)."""
    p = Prepared(MatchRecord(id="x", name=name)).person
    assert p is not None
    return p


def test_a_surname_part_with_a_counterpart_is_not_a_middle_name() -> None:
    sybilla, gundula = person("Sybiila Killerr-Rosenow"), person("Gundula Killer-Rosenow Malerbetrieb")
    assert middle_words(sybilla, gundula) == ()
    assert middle_words(gundula, sybilla) == ()
    # A word the other surname lacks may still be a middle name ("Jean Pierre Martin" / "Jean-Pierre Martin").
    assert middle_words(person("Jean Pierre Martin"), person("Jean-Pierre Martin")) == ("pierre",)


def test_the_given_names_compare_as_different() -> None:
    surname, given, _ = person_levels(
        person("Sybiila Killerr-Rosenow"), person("Gundula Killer-Rosenow Malerbetrieb"), DEFAULT_MODEL
    )
    assert (surname, given) == ("surname:close", "given:different")
    _, given, _ = person_levels(person("Hertrapf-Ebert, Walbvrga"), person("Lissy Hertrampf-Ebert"), DEFAULT_MODEL)
    assert given == "given:different"


def test_another_member_of_the_household_is_not_linked() -> None:
    left = MatchRecord(id="l1", name="Hertrapf-Ebert, Walbvrga", **HOME)
    right = MatchRecord(id="r1", name="Lissy Hertrampf-Ebert", **HOME)
    assert compare(Prepared(left), Prepared(right)).cap == CAP_PERSON
    assert [d.decision for d in match_candidates([left], [right])] != ["link"]
    same = MatchRecord(id="l2", name="Gundula Killerr-Rosenow", **HOME)
    gundula = MatchRecord(id="r2", name="Gundula Killer-Rosenow Malerbetrieb", **HOME)
    assert [d.decision for d in match_candidates([same], [gundula])] == ["link"]
