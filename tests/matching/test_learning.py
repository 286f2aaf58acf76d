"""Calibration by EM and learning from review decisions: the model a tenant's data and decisions produce."""

from __future__ import annotations

import random
from collections import Counter

from contactsync.matching import DEFAULT_MODEL, BlockingStats, MatchRecord, Model, match_all, match_candidates
from contactsync.matching.calibrate import estimate
from contactsync.matching.learn import MIN_SUPPORT, Label, fit
from contactsync.matching.model import kind
from contactsync.matching.scoring import candidate_patterns


def test_model_round_trips_through_json() -> None:
    model = DEFAULT_MODEL.with_weights({"postal:same": 4.0})
    model = fit([Label(("postal:same", "surname:exact"), 9.0, True)] * MIN_SUPPORT, model)
    assert Model.from_json(model.to_json()) == model


def test_consistent_decisions_of_one_kind_are_not_asked_again() -> None:
    same = ("city:same", "given:missing", "postal:same", "street:same", "surname:close")
    apart = ("city:same", "given:initial", "postal:different", "surname:exact")
    labels = [Label(same, 10.5, True)] * MIN_SUPPORT + [Label(apart, 7.0, False)] * MIN_SUPPORT
    model = fit(labels)
    assert model.learned == {kind(same): "link", kind(apart): "apart"}
    assert model.adjusted(same, 10.5, "") >= model.link_weight
    assert model.adjusted(same, 10.5, "a rule") == 10.5  # a rule still caps the pair
    assert model.adjusted(apart, 7.0, "") < model.review_weight
    # Mixed answers teach nothing about the kind.
    mixed = fit([Label(same, 10.5, True)] * MIN_SUPPORT + [Label(same, 10.5, False)])
    assert mixed.learned == {}


def test_a_learned_kind_turns_a_review_into_a_link() -> None:
    left = [MatchRecord("l1", "Keduel", street="Roseallee 74a", postal_code="27052", city="Hersbruck")]
    right = [MatchRecord("r1", "Helmuth Keudel", street="Roseallee 74a", postal_code="27052", city="Hersbruck")]
    (before,) = match_candidates(left, right)
    assert before.decision == "review"
    labels = [Label(tuple(before.explanation["levels"]), before.explanation["weight"], True)] * MIN_SUPPORT
    (after,) = match_candidates(left, right, fit(labels))
    assert after.decision == "link"


def test_em_finds_which_level_tells_matches_apart() -> None:
    # Candidate pairs: 300 matches that mostly agree on the postcode, 700 non-matches that mostly do not;
    # random pairs almost never agree. EM must give agreement a clearly positive and disagreement a
    # negative weight, whatever the starting values.
    rng = random.Random(5)
    patterns: Counter[tuple[str, ...]] = Counter()
    for i in range(1000):
        match = i < 300
        postal = "postal:same" if rng.random() < (0.9 if match else 0.1) else "postal:different"
        name = "name:exact" if rng.random() < (0.8 if match else 0.2) else "name:low"
        patterns[(name, postal)] += 1
    randoms: Counter[tuple[str, ...]] = Counter(
        {("name:low", "postal:different"): 990, ("name:exact", "postal:same"): 10}
    )
    start = DEFAULT_MODEL.with_weights({"postal:same": 0.0, "postal:different": 0.0})
    model, lam = estimate(patterns, randoms, start)
    assert model.weights["postal:same"] > 3.0 and model.weights["postal:different"] < -1.0
    assert 0.1 < lam < 0.6


def test_losing_candidates_are_known_non_matches_whichever_worker_holds_them() -> None:
    same, household, elsewhere = ("given:exact", "street:same"), ("given:different", "street:same"), ("x:y",)
    # Left 1's candidates are split over two workers; its best (12.0) is in the second one.
    first = {1: [(3.0, household), (-4.0, elsewhere)], 2: [(9.0, same)]}
    second = {1: [(12.0, same)], 4: [(5.0, household), (5.0, same)]}
    patterns, losers = candidate_patterns([first, second])
    assert patterns == Counter({same: 3, household: 2, elsewhere: 1})
    # A tie for the best is no evidence: neither of left 4's candidates is a loser.
    assert losers == Counter({household: 1, elsewhere: 1})
    assert candidate_patterns([second, first]) == (patterns, losers)


def test_known_non_matches_stay_out_of_the_match_class() -> None:
    # Household members share the address like the true pairs do; left to EM, they look like matches with a
    # typo in the given name. Known as non-matches, they cannot make a close given name evidence of a match.
    patterns = Counter({("given:exact", "street:same"): 600, ("given:close", "street:same"): 600})
    losers = Counter({("given:close", "street:same"): 600})
    randoms = Counter({("given:different", "street:different"): 990, ("given:close", "street:same"): 10})
    start = DEFAULT_MODEL.with_weights({"given:close": 0.0})
    blind, blind_lam = estimate(patterns, randoms, start)
    informed, informed_lam = estimate(patterns, randoms, start, losers)
    assert informed_lam < blind_lam
    assert informed.weights["given:close"] < blind.weights["given:close"]


def _people(seed: int, n: int) -> tuple[list[MatchRecord], list[MatchRecord]]:
    rng = random.Random(seed)
    given = ["Anna", "Hans", "Peter", "Julia", "Thomas", "Maria", "Stefan", "Laura", "Jonas", "Sabine"]
    surnames = ["Keller", "Brandt", "Vogel", "Hahn", "Lorenz", "Kraus", "Berger", "Frank", "Winter", "Roth"]
    left, right = [], []
    for i in range(n):
        g, s = rng.choice(given), f"{rng.choice(surnames)}{'ab'[i % 2]}{i % 97}"
        street, postal = f"Weg {i % 50} {rng.randint(1, 90)}", f"{10000 + (i * 7) % 9000}"
        right.append(MatchRecord(f"r{i:05}", f"{g} {s}", street=street, postal_code=postal, city="Berlin"))
        if i % 4:
            name = f"{s}, {g}" if i % 3 else f"{g} {s}"
            left.append(MatchRecord(f"l{i:05}", name, street=street, postal_code=postal, city="Berlin"))
        else:
            left.append(MatchRecord(f"l{i:05}", f"{rng.choice(given)} {s}x", street=street, postal_code="99999"))
    return left, right


def test_calibrated_batch_decides_alike_in_one_process_and_in_workers() -> None:
    left, right = _people(3, 2520)
    one, two = BlockingStats(), BlockingStats()
    decisions = match_all(left, right, workers=2, stats=two, calibrate=True)
    assert decisions == match_all(left, right, workers=1, stats=one, calibrate=True)
    assert one.model == two.model and one.model is not None and one.model != DEFAULT_MODEL
    assert sum(d.decision == "link" for d in decisions) > 1500
