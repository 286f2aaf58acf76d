"""Matcher v2 rules: sister companies at one address, person names, typo-proof blocking."""

from __future__ import annotations

from contactsync.matching import MatchRecord, blocking_keys, match_candidates
from contactsync.matching.compare import CAP_DISTINCT, CAP_PERSON, CAP_TAX, compare
from contactsync.matching.normalise.persons import parse_person
from contactsync.matching.prepared import Prepared

ADDRESS = {"street": "Industriestraße 7", "city": "Graz", "postal_code": "8020", "country": "AT"}


def rec(id: str, name: str, **kw: str) -> MatchRecord:
    return MatchRecord(id=id, name=name, **kw)


def test_holding_at_the_same_address_is_never_linked_and_the_word_is_explained() -> None:
    left = rec("l1", "Glaser Holding GmbH", phone="+43 316 123456", email="office@glaser.at", **ADDRESS)
    right = rec("r1", "Glaser GmbH", phone="+43 316 123456", email="office@glaser.at", **ADDRESS)
    decisions = match_candidates([left], [right])
    assert all(d.decision == "review" for d in decisions)
    scored = compare(Prepared(left), Prepared(right), explain=True)
    assert scored.cap == CAP_DISTINCT
    assert scored.fields is not None and scored.fields["distinguishing"]["listed"] == ["holding"]


def test_each_sister_links_to_its_own_record() -> None:
    right = [
        rec("r1", "Niederl & Walcher GmbH", **ADDRESS),
        rec("r2", "Niederl & Walcher Verwaltungs GmbH", **ADDRESS),
    ]
    left = [
        rec("l1", "Niederl und Walcher GmbH", **ADDRESS),
        rec("l2", "Niederl & Walcher Verwaltungs GmbH", **ADDRESS),
    ]
    links = {(d.left_id, d.right_id) for d in match_candidates(left, right) if d.decision == "link"}
    assert links == {("l1", "r1"), ("l2", "r2")}


def test_two_valid_different_vat_ids_cap_the_pair_even_with_the_same_name_and_address() -> None:
    a = Prepared(rec("l1", "Wende GbR", tax_number="DE136695976", **ADDRESS))
    b = Prepared(rec("r1", "Wende GbR", tax_number="DE811569869", **ADDRESS))
    scored = compare(a, b)
    assert scored.cap == CAP_TAX and "tax:contradiction" in scored.levels


def test_group_word_on_one_side_is_not_a_distinction() -> None:
    a = Prepared(rec("l1", "Carter-Marshall Group Ltd", postal_code="M1 1AA", city="Manchester"))
    b = Prepared(rec("r1", "Carter-Marshall Ltd", postal_code="M1 1AA", city="Manchester"))
    assert compare(a, b).cap == ""


def test_person_names_are_split_in_either_order_and_trades_are_kept_apart() -> None:
    assert parse_person("Müller, Hans") == parse_person("Hans Müller")
    person = parse_person("Elektro Inh. Hans Müller")
    assert person is not None and person.given == ("hans",) and person.surname[0] == "muller"
    assert parse_person("Müller & Schmidt") is None
    assert parse_person("Müller Bau GmbH") is None


HOME = {"street": "Kirchweg 5", "postal_code": "50667", "city": "Köln", "country": "DE"}


def test_same_person_with_typos_swapped_order_and_nickname_links() -> None:
    right = [
        rec("r1", "Hans Mueller", **HOME),
        rec("r2", "William Turner", street="12 Mill Lane", postal_code="LS1 4AB", city="Leeds", country="GB"),
        rec("r3", "Emmanuel Giraud", street="8 rue Victor Hugo", postal_code="69002", city="Lyon", country="FR"),
    ]
    left = [
        rec("l1", "Müller, Hans", street="Kirchwg 5", postal_code="50668", city="Köln"),
        rec("l2", "Bill Turner", street="12 Mill Ln", postal_code="LS1 4AB", city="Leeds"),
        rec("l3", "Ernmanuel Giraud", street="8 rue Victor Hugo", postal_code="69002", city="Lyon"),
    ]
    links = {(d.left_id, d.right_id) for d in match_candidates(left, right) if d.decision == "link"}
    assert links == {("l1", "r1"), ("l2", "r2"), ("l3", "r3")}


def test_another_member_of_the_household_is_not_linked() -> None:
    decisions = match_candidates([rec("l1", "Anna Müller", **HOME)], [rec("r1", "Hans Müller", **HOME)])
    assert all(d.decision != "link" for d in decisions)
    scored = compare(Prepared(rec("l1", "Anna Müller", **HOME)), Prepared(rec("r1", "Hans Müller", **HOME)))
    assert scored.cap == CAP_PERSON


def test_the_same_name_in_another_town_is_not_a_match() -> None:
    other = rec("r1", "Hans Müller", street="Marktplatz 1", postal_code="80331", city="München", country="DE")
    assert match_candidates([rec("l1", "Hans Müller", **HOME)], [other]) == []


def test_person_blocking_keys_survive_a_typo_in_any_one_field() -> None:
    base = rec("r", "Katja Ziegert", street="Hänelstr. 102", postal_code="68716", city="Mühldorf")
    variants = [
        rec("a", "Katja Ziiegert", street="Hänelstr. 102", postal_code="68716", city="Mühldorf"),
        rec("b", "Katja Ziegert", street="Hänelstr. 102", postal_code="68717", city="Mühldorf"),
        rec("c", "Ziegert, Katja", street="Hänelstraße 102", postal_code="", city="Mühldrof"),
        rec("d", "Katya Zeigert", street="Hänelstr. 102", postal_code="68716", city="Mühldorf"),
        rec("e", "K. Ziegert", street="Haenelstrasse 102", postal_code="68716", city=""),
    ]
    keys = blocking_keys(base)
    for v in variants:
        assert keys & blocking_keys(v), v.name
