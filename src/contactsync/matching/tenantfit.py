"""Whether and how to calibrate a tenant's model: the policy the pipeline and `contactsync match` share.

EM calibration (`calibrate`) raises recall on books made mostly of people (sole traders, private customers,
name and address only), where the default weights are too strict, and costs precision margin on company
books, where the fields are far from independent (name, legal form and address travel together). So it is
turned on by the data, not by hand: when at least `PERSON_SHARE` of all records read as a person's name by
themselves (the same test `Prepared.person_known` uses), the weights are fitted; otherwise the defaults stay.
A tenant too small to fit (see `calibrate.MIN_PAIRS`) keeps the defaults either way.

`fit_model` runs single-process over a tenant's whole app and remote sides; the pipeline stores its result
per tenant (`store.matchmodel`) and the batch path fits the same model inside `match_all`.
"""

from __future__ import annotations

from collections.abc import Sequence

from contactsync.matching.blocking import common_keys
from contactsync.matching.calibrate import calibrated, token_counts
from contactsync.matching.model import DEFAULT_MODEL, Model
from contactsync.matching.normalise.persons import parse_person
from contactsync.matching.record import MatchRecord
from contactsync.matching.scoring import (
    CALIBRATION_STRIDE,
    buckets_of,
    candidate_patterns,
    count_random_patterns,
    index_keys,
    prepare_slice,
    sample_candidates,
)

# Share of person-like names from which calibration is on (see BENCHMARKS.md: company sets hold 1-2%, person
# sets 89-93%; on mixed books EM mostly helped at 46-47% and was a trade-off at 27-28%).
PERSON_SHARE = 0.4


def is_person_name(name: str | None) -> bool:
    """Whether a name reads as a person's by itself (the test `person_share` counts)."""
    return bool(name and parse_person(name) is not None)


def person_share(records: Sequence[MatchRecord]) -> float:
    """The share of records whose name reads as a person's by itself."""
    if not records:
        return 0.0
    return sum(1 for r in records if is_person_name(r.name)) / len(records)


def wants_calibration(left: Sequence[MatchRecord], right: Sequence[MatchRecord]) -> bool:
    return person_share([*left, *right]) >= PERSON_SHARE


def fit_model(left: Sequence[MatchRecord], right: Sequence[MatchRecord], base: Model = DEFAULT_MODEL) -> Model:
    """`base` calibrated by EM on the two sides (as `match_all(calibrate=True)` does, in one process)."""
    lp, left_keys = prepare_slice(left, None)
    rp, right_keys = prepare_slice(right, None)
    index = index_keys(right_keys)
    del right_keys
    right_count = {k: len(v) for k, v in index.items()}
    buckets = buckets_of(left_keys, index, common_keys(right_count))
    counts = token_counts(p.tokens + p.descriptors for p in rp)
    patterns, losers = candidate_patterns([sample_candidates(lp, rp, buckets, base)])
    randoms = count_random_patterns(len(lp), lp, rp, 0, len(rp), base)
    sampled = len(range(0, len(lp), CALIBRATION_STRIDE))
    return calibrated(patterns, losers, randoms, counts, sampled, len(rp), base)
