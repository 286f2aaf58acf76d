"""A move is one piece of evidence, owner prefixes name a trade, and common names weigh less when calibrated."""

from __future__ import annotations

from collections import Counter

from contactsync.matching import DEFAULT_MODEL, MatchRecord, Model
from contactsync.matching.calibrate import estimate
from contactsync.matching.compare import MOVED, compare
from contactsync.matching.normalise.persons import parse_person
from contactsync.matching.prepared import Prepared

HOME = {"street": "Lindenweg 4", "postal_code": "24103", "city": "Kiel", "country": "DE"}
AWAY = {"street": "Marktplatz 1", "postal_code": "80331", "city": "München", "country": "DE"}


def rec(id: str, name: str, **kw: str) -> MatchRecord:
    return MatchRecord(id=id, name=name, **kw)


def test_street_postcode_and_town_all_different_are_one_level() -> None:
    scored = compare(Prepared(rec("l", "Hans Müller", **HOME)), Prepared(rec("r", "Hans Müller", **AWAY)))
    assert MOVED in scored.levels
    assert not any(x.startswith(("postal:", "city:")) for x in scored.levels)
    # By default a move weighs what its three parts did, so uncalibrated decisions do not change.
    w = DEFAULT_MODEL.weights
    assert w[MOVED] == w["street:different"] + w["postal:different"] + w["city:different"]


def test_a_move_keeps_its_parts_when_anything_of_the_address_agrees() -> None:
    same_town = {**AWAY, "city": "Kiel"}
    scored = compare(Prepared(rec("l", "Hans Müller", **HOME)), Prepared(rec("r", "Hans Müller", **same_town)))
    assert MOVED not in scored.levels and "city:same" in scored.levels and "postal:different" in scored.levels


def test_the_early_exit_bound_allows_for_a_move_weighing_more_than_its_parts() -> None:
    model = DEFAULT_MODEL.with_weights({MOVED: -1.0, "postal:different": -8.0, "city:different": -8.0})
    a, b = Prepared(rec("l", "Hans Müller", **HOME)), Prepared(rec("r", "Hans Müller", **AWAY))
    exact = compare(a, b, model).weight
    assert compare(a, b, model, floor=exact - 0.1).weight == exact


def test_the_explanation_shows_the_move_once() -> None:
    scored = compare(Prepared(rec("l", "Hans Müller", **HOME)), Prepared(rec("r", "Hans Müller", **AWAY)), explain=True)
    assert scored.fields is not None
    assert (
        scored.fields["street"]["level"] == MOVED and scored.fields["street"]["weight"] == DEFAULT_MODEL.weights[MOVED]
    )
    assert scored.fields["postal_code"]["weight"] == 0.0 and scored.fields["city"]["weight"] == 0.0


def test_a_trade_before_an_owner_word_is_not_a_given_name() -> None:
    person = parse_person("Tischlerei Inh. Hirsch")
    assert person is not None and person.given == () and person.surname == ("hirsch", "tischlerei")
    person = parse_person("Fotografie Inh. Hummel, Elona")
    assert person is not None and person.given == ("elona",) and person.surname == ("hummel", "fotografie")
    scored = compare(Prepared(rec("l", "Tischlerei Inh. Hirsch", **HOME)), Prepared(rec("r", "Emma Hirsch", **HOME)))
    assert "given:missing" in scored.levels and scored.cap == ""


def _calibrated_with_u() -> Model:
    patterns = Counter({("given:exact", "surname:exact"): 800, ("given:different", "surname:different"): 800})
    randoms = Counter({("given:different", "surname:different"): 980, ("given:exact", "surname:exact"): 20})
    model, _ = estimate(patterns, randoms, DEFAULT_MODEL)
    counts = {"muller": 300, "hans": 400, "zwiebelhuber": 1, "kunigunde": 1}
    return Model.from_json({**model.to_json(), "token_counts": counts, "records": 1000})


def test_calibration_keeps_the_exact_name_levels_chance_agreement() -> None:
    model = _calibrated_with_u()
    assert 0.0 < model.name_u["surname:exact"] < 0.05 and 0.0 < model.name_u["given:exact"] < 0.05
    assert Model.from_json(model.to_json(with_counts=True)) == model


def test_a_common_name_weighs_less_than_a_rare_one_when_calibrated() -> None:
    model = _calibrated_with_u()
    common = compare(Prepared(rec("l", "Hans Müller", **HOME)), Prepared(rec("r", "Hans Müller", **AWAY)), model)
    rare = compare(
        Prepared(rec("l", "Kunigunde Zwiebelhuber", **HOME)),
        Prepared(rec("r", "Kunigunde Zwiebelhuber", **AWAY)),
        model,
    )
    assert common.levels == rare.levels
    assert common.weight < rare.weight
    # Uncalibrated (no counts, no reference u): no adjustment at all.
    plain = [
        compare(Prepared(rec("l", n, **HOME)), Prepared(rec("r", n, **AWAY))).weight
        for n in ("Hans Müller", "Kunigunde Zwiebelhuber")
    ]
    assert plain[0] == plain[1]
