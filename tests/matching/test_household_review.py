"""Who is not worth a person's look: another member of the household; and a scanner's misread given name."""

from __future__ import annotations

from contactsync.matching import DEFAULT_MODEL, MatchRecord, match_candidates
from contactsync.matching.compare import CAP_PERSON, NOT_REVIEWED_OTHER_PERSON, compare, other_person, short_form
from contactsync.matching.normalise.persons import parse_person
from contactsync.matching.prepared import Prepared

HOME = {"street": "Lindenweg 4", "postal_code": "24103", "city": "Kiel", "country": "DE"}
# Weights as a calibrated model on a set with many households tends to give them: another given name beside
# the same surname and address weighs little, so such pairs reach the review threshold.
HOUSEHOLD_HEAVY = DEFAULT_MODEL.with_weights({**DEFAULT_MODEL.weights, "given:different": -2.0})


def rec(id: str, name: str) -> MatchRecord:
    return MatchRecord(id=id, name=name, **HOME)


def names(left: str, right: str) -> tuple[Prepared, Prepared]:
    return Prepared(rec("l1", left)), Prepared(rec("r1", right))


def test_given_names_without_a_common_initial_are_another_person() -> None:
    a, b = parse_person("Anna Müller"), parse_person("Hans Müller")
    assert a is not None and b is not None
    assert other_person(a, b)
    scored = compare(*names("Anna Müller", "Hans Müller"), HOUSEHOLD_HEAVY)
    assert scored.cap == CAP_PERSON
    assert scored.dropped == NOT_REVIEWED_OTHER_PERSON
    # Heavy enough for review, yet not shown to anyone: the pair is dropped, nothing is decided.
    assert scored.weight >= HOUSEHOLD_HEAVY.review_weight
    assert match_candidates([rec("l1", "Anna Müller")], [rec("r1", "Hans Müller")], HOUSEHOLD_HEAVY) == []


def test_the_rule_is_in_the_explanation() -> None:
    scored = compare(*names("Müller, Anna", "Hans Müller"), HOUSEHOLD_HEAVY, explain=True)
    assert scored.fields is not None
    assert scored.fields["not_reviewed"] == NOT_REVIEWED_OTHER_PERSON
    assert scored.fields["name"]["given_name"] == "different"


def test_a_common_initial_still_goes_to_review() -> None:
    # Same initial: may be a typo beyond the given-name levels, so a person decides (capped at review).
    decisions = match_candidates([rec("l1", "Hedda Müller")], [rec("r1", "Hans Müller")], HOUSEHOLD_HEAVY)
    assert [(d.left_id, d.right_id, d.decision) for d in decisions] == [("l1", "r1", "review")]
    assert decisions[0].explanation["reason"] == f"review at most: {CAP_PERSON}"


def test_a_bare_initial_counts_the_other_sides_nicknames() -> None:
    b_beyer, william, arno = parse_person("B. Beyer"), parse_person("William Beyer"), parse_person("Arno Beyer")
    assert b_beyer is not None and william is not None and arno is not None
    assert not other_person(b_beyer, william)  # B. may be Bill
    assert other_person(b_beyer, arno)
    decisions = match_candidates([rec("l1", "B. Beyer")], [rec("r1", "William Beyer")], HOUSEHOLD_HEAVY)
    assert [d.decision for d in decisions] == ["review"]


def test_a_missing_given_name_is_not_another_person() -> None:
    scored = compare(*names("Müller", "Hans Müller"), HOUSEHOLD_HEAVY)
    assert scored.dropped == ""


def test_a_short_given_name_a_scanner_misread_is_close_and_links() -> None:
    for left, right in (("Arny Miller", "Amy Miller"), ("Jirn Bosman", "Jim Bosman")):
        scored = compare(*names(left, right))
        assert "given:close" in scored.levels
        assert scored.cap == ""
        decisions = match_candidates([rec("l1", left)], [rec("r1", right)])
        assert [(d.left_id, d.right_id, d.decision) for d in decisions] == [("l1", "r1", "link")]
    # Three letters that are not a scanner's confusion stay different names.
    assert "given:different" in compare(*names("Ida Miller", "Amy Miller")).levels


def test_a_short_form_that_drops_the_first_letters_is_reviewed() -> None:
    # Hans for Johannes, Hana for Johanna: initials differ, yet one person; a person decides.
    assert short_form("hans", "johannes") and short_form("johanna", "hana") and short_form("lisa", "elisabeth")
    assert not short_form("anna", "hans") and not short_form("leandra", "hans")
    hans, johannes = parse_person("Hans Stecher"), parse_person("Johannes Stecher")
    assert hans is not None and johannes is not None
    assert not other_person(hans, johannes)
    decisions = match_candidates([rec("l1", "Mace, Hana")], [rec("r1", "Johanna Mace")], HOUSEHOLD_HEAVY)
    assert [(d.decision, d.explanation["reason"]) for d in decisions] == [("review", f"review at most: {CAP_PERSON}")]
    # Names that share nothing stay another member of the household.
    assert match_candidates([rec("l1", "Leandra Stecher")], [rec("r1", "Johannes Stecher")], HOUSEHOLD_HEAVY) == []
