"""The matching engine's entry points: prepare, block, score, decide.

- `match_candidates(left, right)`: the pipeline's call for one page of remote contacts against the app
  contacts found through the persisted blocking keys. Small inputs, no index to keep.
- `match_all(left, right)`: the batch path for whole files (CLI, benchmarks, dry runs before a first sync).
  It builds the key index once, skips keys too common to mean anything, and spreads preparation and scoring
  over worker processes (`batch`).

Both compare only pairs that share a blocking key and score them with the same loop (`scoring`), so a batch
run and the pipeline see the same pairs and, given the same `Model`, take the same decisions.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Collection, Sequence

from contactsync.matching.batch import match_parallel
from contactsync.matching.blocking import common_keys, prepared_keys
from contactsync.matching.calibrate import calibrated, token_counts
from contactsync.matching.decide import Pair, resolve
from contactsync.matching.model import DEFAULT_MODEL, Model
from contactsync.matching.normalise.persons import given_names
from contactsync.matching.prepared import Prepared
from contactsync.matching.record import MatchRecord
from contactsync.matching.scoring import (
    CALIBRATION_STRIDE,
    PROGRESS_EVERY,
    Decision,
    buckets_of,
    candidate_patterns,
    chunks,
    count_random_patterns,
    index_keys,
    local_decisions,
    prepare_slice,
    sample_candidates,
    score_rows,
)
from contactsync.matching.stats import BlockingStats, Progress
from contactsync.matching.tenantfit import wants_calibration

__all__ = ["BlockingStats", "Decision", "Progress", "match_all", "match_candidates", "prepare"]


def prepare(record: MatchRecord | Prepared) -> Prepared:
    """A record normalised for blocking and scoring (names, phones, addresses parsed once); most of a page's
    matching time. A prepared record depends on the record alone, so it may be kept and used again."""
    return record if isinstance(record, Prepared) else Prepared(record)


def match_candidates(
    left: Sequence[MatchRecord | Prepared],
    right: Sequence[MatchRecord | Prepared],
    model: Model = DEFAULT_MODEL,
    common: Collection[str] = (),
) -> list[Decision]:
    """Links and reviews for a page of remote records (`left`) against candidate app records (`right`).

    `common` are the keys `blocking.too_common` sets aside among all the app records (not only `right`):
    a pair that shares only such a key is not compared, exactly as in `match_all`, even when the app record
    is a candidate through another remote record's key. Records the caller has prepared already (`prepare`: to
    read their blocking keys first, or kept from an earlier page) are not prepared again.
    """
    lp = [prepare(r) for r in left]
    rp = [prepare(r) for r in right]
    index = index_keys([prepared_keys(p) for p in rp])
    buckets = buckets_of([prepared_keys(p) for p in lp], index, common)
    kept, _ = score_rows(range(len(lp)), lp, rp, buckets, model)
    outcomes = resolve(kept, [p.id for p in lp], [p.id for p in rp], model)
    return local_decisions(outcomes, lp, rp, model)


def match_all(
    left: Sequence[MatchRecord],
    right: Sequence[MatchRecord],
    progress: Progress | None = None,
    workers: int | None = None,
    stats: BlockingStats | None = None,
    model: Model = DEFAULT_MODEL,
    calibrate: bool | None = False,
) -> list[Decision]:
    """Match two whole sets; the batch counterpart of `match_candidates` (same pairs, same decisions).

    `calibrate=None` decides by the data, as the pipeline does per tenant (`tenantfit.wants_calibration`:
    books with many people are calibrated). With `calibrate`, the level weights are first re-estimated
    on these two sets by EM and the right side's name words are counted for the distinguishing-word rarity
    (`calibrate`); `stats.model` then holds the model that decided.

    Keys that too many right records hold are set aside (`blocking.too_common`, the rule the pipeline's
    candidate lookup applies to the app contacts): in a large set they join unrelated companies by a common
    word or a shared switchboard, or namesakes by a surname, and the records concerned keep their other keys.
    `workers` defaults to the number of CPUs; 1 runs everything in this process.
    """
    workers = workers or os.cpu_count() or 1
    if calibrate is None:
        calibrate = wants_calibration(left, right)
    # A batch creates millions of small objects that all live until the end; the cyclic garbage collector
    # would rescan them again and again for nothing (there are no cycles), so it is paused for the run.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        given_names()  # built once here, so forked workers share it instead of each building its own
        use_pool = workers > 1 and len(left) + len(right) > 5000 and "fork" in multiprocessing.get_all_start_methods()
        if use_pool:
            return match_parallel(left, right, progress, workers, stats, model, calibrate)
        return _match_here(left, right, progress, stats, model, calibrate)
    finally:
        if gc_was_enabled:
            gc.enable()


def _match_here(
    left: Sequence[MatchRecord],
    right: Sequence[MatchRecord],
    progress: Progress | None,
    stats: BlockingStats | None,
    model: Model,
    calibrate: bool,
) -> list[Decision]:
    total = len(left) + len(right)
    lp, left_keys = prepare_slice(left, None)
    if progress is not None:
        progress("prepare", len(left), total)
    rp, right_keys = prepare_slice(right, None)
    if progress is not None:
        progress("prepare", total, total)
    index = index_keys(right_keys)
    del right_keys
    skip = common_keys({k: len(v) for k, v in index.items()})
    buckets = buckets_of(left_keys, index, skip)
    if calibrate:
        counts = token_counts(p.tokens + p.descriptors for p in rp)
        patterns, losers = candidate_patterns([sample_candidates(lp, rp, buckets, model)])
        randoms = count_random_patterns(len(lp), lp, rp, 0, len(rp), model)
        sampled = len(range(0, len(lp), CALIBRATION_STRIDE))
        model = calibrated(patterns, losers, randoms, counts, sampled, len(rp), model)
    if stats is not None:
        stats.model = model
    kept: list[Pair] = []
    compared = 0
    for a, b in chunks(len(lp), PROGRESS_EVERY):
        part, n = score_rows(range(a, b), lp, rp, buckets, model)
        kept.extend(part)
        compared += n
        if progress is not None:
            progress("score", b, len(lp))
    if stats is not None:
        stats.pairs = compared
        stats.skipped_keys = len(skip)
    outcomes = resolve(kept, [p.id for p in lp], [p.id for p in rp], model)
    return local_decisions(outcomes, lp, rp, model)
