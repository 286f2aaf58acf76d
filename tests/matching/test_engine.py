import json
import random

import pytest

from contactsync.matching import BlockingStats, MatchRecord, blocking_keys, explaining, match_all, match_candidates
from contactsync.matching.compare import compare
from contactsync.matching.model import Model
from contactsync.matching.prepared import Prepared


def rec(id: str, name: str, **kw: str) -> MatchRecord:
    return MatchRecord(id=id, name=name, **kw)


MUELLER = rec(
    "l1",
    "Müller Bau G.m.b.H.",
    email="info@mueller-bau.de",
    tax_number="DE 136 695 976",
    phone="030 1234567",
    street="Hauptstraße 12",
    city="Berlin",
    postal_code="10115",
    country="DE",
)


def test_same_company_differently_spelled_links_with_explanation() -> None:
    right = [
        rec(
            "r1",
            "Mueller Bau GmbH",
            email="buchhaltung@mueller-bau.de",
            tax_number="136695976",
            street="Hauptstr. 12",
            city="Berlin",
            postal_code="10115",
            country="Deutschland",
        )
    ]
    (d,) = match_candidates([MUELLER], right)
    assert (d.left_id, d.right_id, d.decision) == ("l1", "r1", "link")
    assert d.explanation["fields"]["tax_id"]["result"] == "same"
    json.dumps(d.explanation)  # JSON-able


def test_same_name_other_city_other_valid_vat_is_not_a_match() -> None:
    other = rec(
        "r1", "Müller Bau GmbH", tax_number="DE 811 569 869", street="Marktplatz 1", city="München",
        postal_code="80331", country="DE",
    )  # fmt: skip
    assert match_candidates([MUELLER], [other]) == []


def test_valid_vat_contradiction_outweighs_everything_else() -> None:
    twin = rec(
        "r1", "Müller Bau GmbH", email="info@mueller-bau.de", tax_number="DE811569869",
        phone="+49 30 1234567", street="Hauptstraße 12", city="Berlin", postal_code="10115", country="DE",
    )  # fmt: skip
    decisions = match_candidates([MUELLER], [twin])
    assert all(d.decision != "link" for d in decisions)


def test_different_countries_do_not_link() -> None:
    left = rec("l1", "Acme Ltd", email="info@acme.com", city="London", country="GB")
    right = rec("r1", "Acme GmbH", email="info@acme.com", city="Berlin", country="DE")
    assert all(d.decision != "link" for d in match_candidates([left], [right]))


def test_franchise_branches_do_not_link() -> None:
    left = rec("l1", "Burger Palace", email="berlin@burgerpalace.com", street="Friedrichstraße 50",
               city="Berlin", postal_code="10117", country="DE")  # fmt: skip
    right = rec("r1", "Burger Palace", email="hamburg@burgerpalace.com", street="Mönckebergstraße 7",
                city="Hamburg", postal_code="20095", country="DE")  # fmt: skip
    assert match_candidates([left], [right]) == []


def test_name_alone_is_not_enough_to_link() -> None:
    decisions = match_candidates([rec("l1", "Zimmermann Haustechnik GmbH")], [rec("r1", "Zimmermann Haustechnik")])
    assert [d.decision for d in decisions] == ["review"]


def test_duplicate_app_contacts_go_to_review() -> None:
    right = [
        rec("r1", "Müller Bau GmbH", city="Berlin", postal_code="10115", country="DE", street="Hauptstraße 12"),
        rec("r2", "Mueller Bau GmbH", city="Berlin", postal_code="10115", country="DE", street="Hauptstr. 12"),
    ]
    decisions = match_candidates([MUELLER], right)
    assert {d.right_id for d in decisions} == {"r1", "r2"}
    assert all(d.decision == "review" for d in decisions)


def test_one_to_one_resolved_by_score_not_input_order() -> None:
    strong = rec("l2", "Mueller Bau GmbH", tax_number="DE136695976", email="info@mueller-bau.de",
                 city="Berlin", postal_code="10115", country="DE")  # fmt: skip
    weak = rec("l1", "Müller Bau", city="Berlin", postal_code="10115", country="DE")
    right = [rec("r1", "Müller Bau GmbH", tax_number="136695976", email="info@mueller-bau.de", city="Berlin",
                 postal_code="10115", country="DE")]  # fmt: skip
    for left in ([weak, strong], [strong, weak]):
        links = [d for d in match_candidates(left, right) if d.decision == "link"]
        assert [(d.left_id, d.right_id) for d in links] == [("l2", "r1")]


def test_match_all_agrees_with_match_candidates_and_input_order() -> None:
    rng = random.Random(7)
    base = ["Alpha", "Beta Systems", "Gamma Logistik", "Delta Foods", "Epsilon Bau", "Zeta Media"]
    left = [rec(f"l{i}", f"{n} GmbH", city="Köln", postal_code="50667", country="DE") for i, n in enumerate(base)]
    right = [rec(f"r{i}", f"{n} G.m.b.H.", city="Koeln", postal_code="50667", country="DE") for i, n in enumerate(base)]
    expected = match_candidates(left, right)
    assert {(d.left_id, d.right_id) for d in expected if d.decision == "link"} == {
        (f"l{i}", f"r{i}") for i in range(len(base))
    }
    rng.shuffle(left)
    rng.shuffle(right)
    assert match_all(left, right, workers=1) == expected


def test_blocking_keys_are_deterministic_strings_and_meet_across_spellings() -> None:
    a = blocking_keys(MUELLER)
    assert a == blocking_keys(MUELLER)
    assert all(isinstance(k, str) for k in a)
    b = blocking_keys(rec("r", "Mueller Bau GmbH"))
    assert a & b
    typo = blocking_keys(rec("r", "Muler Bau GmbH & Co. KG"))
    assert a & typo
    assert not a & blocking_keys(rec("x", "Schneider Elektro AG"))


def test_common_business_words_alone_do_not_block() -> None:
    a = blocking_keys(rec("a", "Müller Consulting Services GmbH"))
    b = blocking_keys(rec("b", "Schmidt Consulting Services GmbH"))
    assert not a & b


def test_two_word_name_with_a_typo_keeps_a_key() -> None:
    a = blocking_keys(rec("a", "Hoffmann Zimmerei"))
    for typo in ("Hofmann Zimmerei", "Hoffmann Zimmerie", "Zimmerei Hoffmann", "Hoffmann Zimmerei Holding"):
        assert a & blocking_keys(rec("b", typo)), typo


def test_bounded_score_agrees_with_compare() -> None:
    # With a floor, `compare` skips the fuzzy fields of pairs that cannot reach it; above it, the weight must
    # be the unbounded one to the last bit, and below it, below the floor.
    names = ["Müller Bau GmbH", "Mueller Bau", "Müller Logistik AG", "Schmidt Elektro", "Muller"]
    cities = [("Berlin", "10115"), ("Berlin", "10117"), ("München", "80331"), ("", "")]
    taxes = ["DE136695976", "136695976", "DE811569869", ""]
    phones = ["030 1234567", "+49 30 1234567", "+49 89 7654321", ""]
    emails = ["info@mueller-bau.de", "x@gmail.com", "info@other.de", ""]
    rng = random.Random(3)
    records = []
    for i in range(60):
        city, postal = rng.choice(cities)
        records.append(
            Prepared(
                rec(f"x{i}", rng.choice(names), tax_number=rng.choice(taxes), phone=rng.choice(phones),
                    email=rng.choice(emails), city=city, postal_code=postal, country=rng.choice(["DE", "AT", ""]),
                    street=rng.choice(["Hauptstraße 12", "Hauptstr. 14", "Marktplatz 1", ""]))
            )
        )  # fmt: skip
    for a in records:
        for b in records:
            exact = compare(a, b)
            for floor in (-5.0, 6.0, 12.0):
                bounded = compare(a, b, floor=floor)
                if exact.weight >= floor:
                    assert (bounded.weight, bounded.cap, bounded.levels) == (exact.weight, exact.cap, exact.levels)
                else:
                    assert bounded.weight < floor


def test_worker_processes_decide_as_one_process_does() -> None:
    # Above 5,000 records the batch forks workers that each own a slice of both sides; the decisions, the
    # explanations and the blocking figures must not depend on that.
    rng = random.Random(11)
    words = ["Alpen", "Nord", "Sonnen", "Hafen", "Linden", "Eichen", "Berg", "Tal", "Kron", "Stern", "Falken"]
    trades = ["Bau", "Logistik", "Druck", "Optik", "Reisen", "Technik"]
    right, left = [], []
    for i in range(2600):
        name = f"{rng.choice(words)}{rng.choice(words).lower()} {rng.choice(trades)} {i % 97}"
        city = rng.choice(["Berlin", "Hamburg", "Köln", "Wien"])
        phone = f"030 {1000000 + i}"
        right.append(rec(f"r{i:05}", f"{name} GmbH", city=city, postal_code=f"{10000 + i % 500}", phone=phone))
        if i % 5:
            left.append(rec(f"l{i:05}", f"{name} G.m.b.H.", city=city, postal_code=f"{10000 + i % 500}",
                            phone=phone if i % 3 else ""))  # fmt: skip
        else:
            left.append(rec(f"l{i:05}", name, city="Graz", postal_code="8010"))
    one, two = BlockingStats(), BlockingStats()
    decisions = match_all(left, right, workers=2, stats=two)
    assert decisions == match_all(left, right, workers=1, stats=one)
    assert (one.pairs, one.skipped_keys) == (two.pairs, two.skipped_keys)
    assert sum(d.decision == "link" for d in decisions) > 1000 and one.skipped_keys > 0


def test_a_failing_worker_is_reported_not_hung_on() -> None:
    right = [rec(f"r{i}", f"Firma {i} GmbH", city="Berlin") for i in range(2600)]
    left = [rec(f"l{i}", f"Firma {i} GmbH", city="Berlin") for i in range(2600)]
    left[100] = MatchRecord(id="bad", name=123)  # type: ignore[arg-type]  # what a broken caller might pass
    with pytest.raises(RuntimeError, match="worker failed"):
        match_all(left, right, workers=2)


def _pooled_sets() -> tuple[list[MatchRecord], list[MatchRecord]]:
    right = [rec(f"r{i:05}", f"Firma{i} Bau GmbH", city="Berlin", postal_code=f"{10000 + i}") for i in range(2600)]
    left = [rec(f"l{i:05}", f"Firma{i} Bau", city="Berlin", postal_code=f"{10000 + i}") for i in range(2600)]
    return left, right


def test_decided_pairs_explained_in_pieces_keep_their_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # The explaining processes send their explanations in pieces; with pieces of 7 pairs, each process sends
    # nearly 200 of them, read in whatever order they arrive, and every decision must keep its own explanation.
    monkeypatch.setattr(explaining, "EXPLAIN_PIECE", 7)
    left, right = _pooled_sets()
    decisions = match_all(left, right, workers=2)
    assert decisions == match_all(left, right, workers=1)
    assert len(decisions) > 2000 and sum(d.decision == "link" for d in decisions) > 1500
    cores = {r.id: Prepared(r).core for r in left}
    assert all(d.explanation["fields"]["name"]["left"] == cores[d.left_id] for d in decisions)


def test_a_failing_explanation_is_reported_not_hung_on(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(a: Prepared, b: Prepared, model: Model) -> tuple[float, dict[str, object]]:
        raise ValueError(f"cannot explain {a.id}")

    monkeypatch.setattr(explaining, "explain", broken)
    left, right = _pooled_sets()
    with pytest.raises(RuntimeError, match=r"process failed(.|\n)*cannot explain"):
        match_all(left, right, workers=2)
