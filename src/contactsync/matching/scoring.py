"""The steps both entry points share: prepare, index keys, drop over-common keys, score, build decisions.

One scoring loop serves the pipeline's page, the single-process batch and each batch worker: it takes, per
left record, the index buckets of its usable keys and keeps the pairs that reach the review threshold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from contactsync.matching.blocking import finding_keys, prepared_keys
from contactsync.matching.compare import compare
from contactsync.matching.decide import Outcome, Pair, probability
from contactsync.matching.model import Model
from contactsync.matching.prepared import Prepared
from contactsync.matching.record import MatchRecord

PROGRESS_EVERY = 2000


@dataclass(frozen=True, slots=True)
class Decision:
    """A proposed link (or a pair for a person to review) with the evidence behind it.

    `score` is the evidence as a probability-like number in [0, 1]; `explanation` holds the weight in bits,
    the runner-up's weight, the reason and the per-field comparison results (all JSON-able).
    """

    left_id: str
    right_id: str
    score: float
    decision: Literal["link", "review"]
    explanation: dict[str, Any] = field(default_factory=dict)


def explain(a: Prepared, b: Prepared, model: Model) -> tuple[float, dict[str, Any]]:
    """The pair's weight (as `score_rows` kept it) and per-field explanation, with its levels (what a
    review decision is stored with, see `learn`)."""
    scored = compare(a, b, model, explain=True)
    assert scored.fields is not None
    fields = {**scored.fields, "levels": sorted(scored.levels)}
    return model.adjusted(scored.levels, scored.weight, scored.cap), fields


def decisions(
    outcomes: list[Outcome],
    left_ids: Sequence[str],
    right_ids: Sequence[str],
    explained: Sequence[tuple[float, dict[str, Any]]],
) -> list[Decision]:
    """Decisions for `outcomes`; `explained[i]` is `explain(...)` of outcome i's pair."""
    out = []
    for o, (weight, explained_fields) in zip(outcomes, explained, strict=True):
        fields = dict(explained_fields)
        levels = fields.pop("levels", [])
        explanation: dict[str, Any] = {
            "weight": round(weight, 2),
            "runner_up_weight": None if o.runner_up is None else round(o.runner_up, 2),
            "reason": o.reason,
            "fields": fields,
            "levels": levels,
        }
        decision: Literal["link", "review"] = "link" if o.decision == "link" else "review"
        out.append(
            Decision(left_ids[o.left], right_ids[o.right], round(probability(o.weight), 4), decision, explanation)
        )
    out.sort(key=lambda d: (d.left_id, d.decision != "link", -d.score, d.right_id))
    return out


def local_decisions(
    outcomes: list[Outcome], left: Sequence[Prepared], right: Sequence[Prepared], model: Model
) -> list[Decision]:
    explained = [explain(left[o.left], right[o.right], model) for o in outcomes]
    return decisions(outcomes, [p.id for p in left], [p.id for p in right], explained)


def index_keys(keys: Sequence[Collection[str]], first: int = 0) -> dict[str, list[int]]:
    """Key -> indices of the records holding it (numbered from `first`)."""
    index: dict[str, list[int]] = {}
    for i, ks in enumerate(keys, first):
        for k in ks:
            bucket = index.get(k)
            if bucket is None:
                index[k] = [i]
            else:
                bucket.append(i)
    return index


def buckets_of(
    keys: Sequence[Collection[str]], index: dict[str, list[int]], skip: Collection[str]
) -> list[tuple[list[int], ...]]:
    """Per left record, the index buckets of the keys it finds candidates by (`blocking.finding_keys`);
    `index` holds every app-side holder of each key not in `skip`."""

    def holders(k: str) -> int:
        bucket = index.get(k)
        return 0 if bucket is None or k in skip else len(bucket)

    return [tuple(index[k] for k in finding_keys(ks, holders)) for ks in keys]


def buckets_by(keys: Sequence[Collection[str]], index: dict[str, list[int]]) -> list[tuple[list[int], ...]]:
    """Per left record, the buckets of keys already chosen (`blocking.finding_keys`) that `index` holds."""
    get, held = index.__getitem__, index.__contains__
    return [tuple(map(get, filter(held, ks))) for ks in keys]


def score_rows(
    rows: range,
    left: Sequence[Prepared],
    right: Sequence[Prepared],
    buckets: Sequence[tuple[list[int], ...]],
    model: Model,
    right_offset: int = 0,
) -> tuple[list[Pair], int]:
    """Score every left row in `rows` against the right records of its buckets; keep pairs worth a review
    (weight at least the review threshold, and not `Scored.dropped`).

    Buckets hold right indices from `right_offset` on (`right[ri - right_offset]` is record `ri`); the kept
    pairs carry the indices as the buckets give them.
    """
    floor = model.review_weight
    kept: list[Pair] = []
    compared = 0
    for li in rows:
        bs = buckets[li]
        if not bs:
            continue
        candidates: set[int] = set(bs[0])
        for bucket in bs[1:]:
            candidates.update(bucket)
        compared += len(candidates)
        a = left[li]
        for ri in candidates:
            s = compare(a, right[ri - right_offset], model, floor)
            if s.weight >= floor and not s.dropped:
                w = model.adjusted(s.levels, s.weight, s.cap)
                if w >= floor:
                    kept.append((li, ri, w, s.cap))
    return kept, compared


# Calibration looks at every this-many-th left record's candidate pairs: EM needs thousands of pairs, not all.
CALIBRATION_STRIDE = 3


Sample = dict[int, list[tuple[float, tuple[str, ...]]]]
"""Left index -> (weight under the model counted with, sorted comparison levels) of each candidate pair."""


def sample_candidates(
    left: Sequence[Prepared],
    right: Sequence[Prepared],
    buckets: Sequence[tuple[list[int], ...]],
    model: Model,
    right_offset: int = 0,
) -> Sample:
    """Weight and level pattern of the candidate pairs of every `CALIBRATION_STRIDE`-th left record (the input
    of `candidate_patterns`). Equal patterns are one tuple, so a worker's sample pickles small."""
    sample: Sample = {}
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}
    for li in range(0, len(left), CALIBRATION_STRIDE):
        bs = buckets[li]
        if not bs:
            continue
        candidates: set[int] = set(bs[0])
        for bucket in bs[1:]:
            candidates.update(bucket)
        a = left[li]
        pairs = sample.setdefault(li, [])
        for ri in candidates:
            s = compare(a, right[ri - right_offset], model)
            pattern = tuple(sorted(s.levels))
            pairs.append((s.weight, shared.setdefault(pattern, pattern)))
    return sample


def candidate_patterns(samples: Iterable[Sample]) -> tuple[Counter[tuple[str, ...]], Counter[tuple[str, ...]]]:
    """The level patterns of all sampled candidate pairs, and of those that lose to another candidate of their
    left record, counted (the input of `calibrate.estimate`).

    A contact has at most one counterpart, so every candidate of a left record but its best is a non-match
    (but for duplicates within one side): the losers are non-matches drawn from the same blocks as the pairs
    to be decided, households and namesakes included. Workers holding slices of the right side each send
    their part of a left record's candidates; the merged counts equal one process's.
    """
    best: dict[int, float] = {}
    parts = list(samples)
    for sample in parts:
        for li, pairs in sample.items():
            top = max(w for w, _ in pairs)
            best[li] = max(best.get(li, top), top)
    patterns: Counter[tuple[str, ...]] = Counter()
    losers: Counter[tuple[str, ...]] = Counter()
    for sample in parts:
        for li, pairs in sample.items():
            top = best[li]
            for w, pattern in pairs:
                patterns[pattern] += 1
                if w < top:
                    losers[pattern] += 1
    return patterns, losers


RANDOM_PAIRS = 30000


def count_random_patterns(
    n_left: int, left: Sequence[Prepared], right: Sequence[Prepared], right_offset: int, n_right: int, model: Model
) -> Counter[tuple[str, ...]]:
    """Level patterns of `RANDOM_PAIRS` pseudo-random pairs of the whole sets (almost all non-matches: the
    u side of calibration). The pairs are a fixed function of the set sizes, so workers that each hold a
    slice of the right side together count exactly the pairs one process would."""
    patterns: Counter[tuple[str, ...]] = Counter()
    if not n_left or not n_right:
        return patterns
    for k in range(RANDOM_PAIRS):
        ri = (k * 104729 + 7) % n_right
        if right_offset <= ri < right_offset + len(right):
            li = (k * 7919 + 13) % n_left
            patterns[tuple(sorted(compare(left[li], right[ri - right_offset], model).levels))] += 1
    return patterns


def prepare_slice(records: Sequence[MatchRecord], conn: Any) -> tuple[list[Prepared], list[tuple[str, ...]]]:
    """Prepared records and their keys; progress goes to `conn` (a worker's pipe) when given."""
    prepared: list[Prepared] = []
    keys: list[tuple[str, ...]] = []
    for i, r in enumerate(records, 1):
        p = Prepared(r)
        prepared.append(p)
        keys.append(tuple(prepared_keys(p)))
        if conn is not None and i % PROGRESS_EVERY == 0:
            conn.send(("prepare", PROGRESS_EVERY))
    if conn is not None:
        conn.send(("prepare", len(records) % PROGRESS_EVERY))
    return prepared, keys


def chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(n, i + size)) for i in range(0, n, size)]
