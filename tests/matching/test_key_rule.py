"""The one rule that sets over-common blocking keys aside, shared by the batch path and the pipeline's lookup."""

from __future__ import annotations

from contactsync.matching import BlockingStats, MatchRecord, blocking_keys, match_all, match_candidates
from contactsync.matching.blocking import (
    HOLDER_LIMIT,
    WEAK_HOLDER_LIMIT,
    WEAK_KINDS,
    common_keys,
    key_kind,
    too_common,
)


def person(
    id: str, name: str, street: str | None = None, postal: str | None = None, city: str | None = None
) -> MatchRecord:
    return MatchRecord(id=id, name=name, street=street, postal_code=postal, city=city, country="DE")


def test_weak_kinds_are_set_aside_sooner_than_strong_ones() -> None:
    assert not too_common("ps:STNMN|a", WEAK_HOLDER_LIMIT)
    assert too_common("ps:STNMN|a", WEAK_HOLDER_LIMIT + 1)
    assert not too_common("n2:keller|anna", WEAK_HOLDER_LIMIT + 1)
    assert not too_common("t:136695976", HOLDER_LIMIT)
    assert too_common("t:136695976", HOLDER_LIMIT + 1)
    assert {"n2p", "n2s", "pc", "ps", "sd", "st"} == WEAK_KINDS


def test_common_keys_depend_only_on_the_holder_counts() -> None:
    holders = {"pc:KLR|kln": WEAK_HOLDER_LIMIT + 1, "pp:KLR|506": WEAK_HOLDER_LIMIT + 1, "n:x": 1, "e:a@b.de": 21}
    assert common_keys(holders) == {"pc:KLR|kln", "e:a@b.de"}


def test_a_moved_person_with_a_given_name_typo_keeps_a_surname_key() -> None:
    # No address on one side and a typo in the given name's first letters: before the surname + initial key,
    # the two shared no key at all.
    a = blocking_keys(person("l", "Adnre Steinmann"))
    b = blocking_keys(person("r", "André Steinmann", "Wolfstrasse 168", "5061", "Bulle"))
    assert {key_kind(k) for k in a & b} == {"ps", "sd"}
    assert blocking_keys(person("l", "G. Haase")) & blocking_keys(person("r", "Gunhild Haase", "Heinzweg 1"))
    assert not blocking_keys(person("l", "G. Haase")) & blocking_keys(person("r", "Peter Haase"))


def test_a_pair_sharing_only_a_common_key_is_not_compared_in_either_path() -> None:
    remote = person("l", "Adnre Steinmann")
    mine = person("r0", "André Steinmann", "Wolfstrasse 168", "50612", "Bulle")
    # Other app contacts holding the same surname + initial keys: the blocks grow past the weak limit (the
    # surname's deletion keys need the exact spelling, which half of them have).
    others = [
        person(f"r{i}", f"Anna Steinmann{'' if i % 2 else 'n'}", f"Weg {i}", f"{10000 + i}", f"Ort{i}")
        for i in range(1, 2 * WEAK_HOLDER_LIMIT + 1)
    ]
    shared = blocking_keys(remote) & blocking_keys(mine)
    held = [blocking_keys(o) for o in [mine, *others]]
    holders = {k: sum(k in ks for ks in held) for k in shared}
    assert common_keys(holders) == shared  # the pair's only keys are all too common now

    few = match_all([remote], [mine], workers=1)
    assert [(d.left_id, d.right_id) for d in few] == [("l", "r0")]  # found while the block is small
    stats = BlockingStats()
    assert match_all([remote], [mine, *others], workers=1, stats=stats) == []
    assert stats.pairs == 0
    # The pipeline passes the keys the rule sets aside over all app contacts: the same pair is not compared
    # even though the app contact is among the page's candidates (through another remote record).
    assert match_candidates([remote], [mine], common=shared) == []
    assert match_candidates([remote], [mine]) == few
