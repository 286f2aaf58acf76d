"""Each remote record finds its candidates by its most selective keys, within a budget, in every path alike."""

from __future__ import annotations

from contactsync.matching import BlockingStats, MatchRecord, match_all, match_candidates
from contactsync.matching.blocking import CANDIDATE_BUDGET, HOLDER_LIMIT, finding_keys

EMAIL = "anna.keller@keller-consult.de"
PHONE = "+49 30 1234567"


def test_the_most_selective_keys_are_taken_while_their_holders_fit_the_budget() -> None:
    holders = {"t:136695976": 1, "e:a@b.de": 2, "n2:keller|anna": 5, "p:+49301234567": 9, "n:x": 0}
    assert finding_keys(holders, holders.__getitem__) == ["t:136695976", "e:a@b.de", "n2:keller|anna"]
    # The most selective key is always taken, even past the budget; a key set aside as too common never is.
    big = {"n2:keller|anna": CANDIDATE_BUDGET + 5, "e:a@b.de": HOLDER_LIMIT + 1}
    assert finding_keys(big, big.__getitem__) == ["n2:keller|anna"]
    ties = {"n:b": 6, "n:a": 6}
    assert finding_keys(ties, ties.__getitem__) == ["n:a"]  # equal counts: by key, whatever the order given


def _sets() -> tuple[list[MatchRecord], list[MatchRecord]]:
    """One remote record with a selective key (its email, 2 holders) and a broad one (its phone, 9 holders).

    The app side is split in two halves by the batch workers: the phone's holders lie in both halves, the
    email's in the second only. With the phone's holders on top of the email's the budget is exceeded, so
    only the email finds candidates, which one worker can know only from the other's counts.
    """
    remote = MatchRecord(id="l", name="Anna Keller Consulting", email=EMAIL, phone=PHONE, country="DE")
    fillers = [MatchRecord(id=f"f{i}", name=f"Quorvex{i} Zandtrip{i}", country="DE") for i in range(2600)]
    phone_holders = [
        MatchRecord(id=f"p{i}", name=f"Wexlor{i} Brimstad{i}", phone=PHONE, country="DE") for i in range(9)
    ]
    email_holders = [
        MatchRecord(id="e0", name="Keller Beratung GmbH", email=EMAIL, country="DE"),
        MatchRecord(id="e1", name="Keller Beratung", email=EMAIL, country="DE"),
    ]
    # Right side: fillers, the phone's holders around the middle, the email's at the end.
    right = [*fillers[:1300], *phone_holders, *fillers[1300:], *email_holders]
    left = [remote, *(MatchRecord(id=f"g{i}", name=f"Plimsot{i} Drovank{i}", country="DE") for i in range(2600))]
    return left, right


def test_batch_workers_choose_a_records_keys_by_the_global_counts() -> None:
    left, right = _sets()
    assert len(left) + len(right) > 5000  # the batch runs in worker processes
    one, two = BlockingStats(), BlockingStats()
    alone = match_all(left, right, workers=1, stats=one)
    pooled = match_all(left, right, workers=2, stats=two)
    assert one.pairs == two.pairs == 2  # the remote record against the email's two holders only
    assert alone == pooled


def test_the_pipeline_compares_the_same_pairs_as_the_batch() -> None:
    left, right = _sets()
    remote = left[0]
    # A reconcile page gets every app holder of the page's usable keys as candidates.
    candidates = [r for r in right if r.email == EMAIL or r.phone == PHONE]
    decisions = match_candidates([remote], candidates)
    assert decisions == match_all([remote], right, workers=1)
    assert decisions and {d.right_id for d in decisions} <= {"e0", "e1"}


def test_a_surnames_deletion_keys_count_once_against_the_budget() -> None:
    # The deletion keys of one surname have nearly the same holders (everyone spelt alike holds them all): as
    # separate keys they would use up the budget before the keys behind them.
    holders = {"sd:keller|a": 3, "sd:kller|a": 3, "sd:eller|a": 4, "e:a@b.de": 2, "p:+49301234567": 5}
    assert finding_keys(holders, holders.__getitem__) == ["e:a@b.de", "sd:keller|a", "sd:kller|a", "sd:eller|a"]
    # Other kinds still count each key: two name pairs of 3 holders each take 6 of the budget.
    names = {"n2:anna|keller": 3, "n2:keller|anne": 3, "e:a@b.de": 2, "p:+49301234567": 1}
    assert finding_keys(names, names.__getitem__) == ["p:+49301234567", "e:a@b.de", "n2:anna|keller"]


def test_an_exact_identifier_is_used_whatever_the_budget() -> None:
    """A switchboard number two other companies share ranks first; the company's own email, held by seven
    namesakes' records, would not fit the budget behind it, and the app copy it alone finds would be created
    again. Identifiers always find their holders; broader keys stay under the budget."""
    holders = {"p:+442074960875": 2, "e:hello@cox.co.uk": 7, "t:GB123456789": 9, "d:cox.co.uk": 14, "n:cox": 5}
    chosen = finding_keys(holders, holders.__getitem__)
    assert chosen[0] == "p:+442074960875"  # the most selective key still comes first
    assert {"e:hello@cox.co.uk", "t:GB123456789"} <= set(chosen)
    assert "n:cox" in chosen  # 2 + 5 holders fit the budget
    assert "d:cox.co.uk" not in chosen  # behind the identifiers the budget is spent: a broad key stays out
    too_many = {"e:info@example.com": HOLDER_LIMIT + 1, "n:acme": 1}
    assert finding_keys(too_many, too_many.__getitem__) == ["n:acme"]  # a too-common address stays aside
