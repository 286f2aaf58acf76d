"""The matching engine: prepare, block, score, decide. Two entry points over the same steps.

- `match_candidates(left, right)`: the pipeline's call for one page of remote contacts against the app
  contacts found through the persisted blocking keys. Small inputs, no index to keep.
- `match_all(left, right)`: the batch path for whole files (CLI, benchmarks, dry runs before a first sync).
  It builds the key index once, skips keys too common to mean anything, and spreads preparation and scoring
  over worker processes.

Both compare only pairs that share a blocking key, so a batch run and the pipeline see the same pairs and
take the same decisions.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from contactsync.matching.blocking import BLOCK_PAIR_LIMIT, prepared_keys
from contactsync.matching.compare import compare
from contactsync.matching.decide import REVIEW_WEIGHT, Outcome, probability, resolve
from contactsync.matching.prepared import Prepared
from contactsync.matching.record import MatchRecord

Progress = Callable[[str, int, int], None]
"""Called as progress(stage, done, total) with stage "prepare" or "score"."""


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


@dataclass(slots=True)
class BlockingStats:
    """What blocking did: how many pairs it produced and how many keys it set aside as too common."""

    pairs: int = 0
    skipped_keys: int = 0


def _decisions(outcomes: list[Outcome], left: Sequence[Prepared], right: Sequence[Prepared]) -> list[Decision]:
    out = []
    for o in outcomes:
        weight, fields = compare(left[o.left], right[o.right], explain=True)
        explanation: dict[str, Any] = {
            "weight": round(weight, 2),
            "runner_up_weight": None if o.runner_up is None else round(o.runner_up, 2),
            "reason": o.reason,
            "fields": fields,
        }
        decision: Literal["link", "review"] = "link" if o.decision == "link" else "review"
        out.append(Decision(left[o.left].id, right[o.right].id, round(probability(o.weight), 4), decision, explanation))
    out.sort(key=lambda d: (d.left_id, d.decision != "link", -d.score, d.right_id))
    return out


def _index(keys: Sequence[set[str]]) -> dict[str, list[int]]:
    index: dict[str, list[int]] = {}
    for i, ks in enumerate(keys):
        for k in ks:
            bucket = index.get(k)
            if bucket is None:
                index[k] = [i]
            else:
                bucket.append(i)
    return index


def _score_rows(
    rows: range,
    left: Sequence[Prepared],
    right: Sequence[Prepared],
    left_keys: Sequence[set[str]],
    index: dict[str, list[int]],
    skip: frozenset[str],
) -> tuple[list[tuple[int, int, float]], int]:
    """Score every left row in `rows` against the right records it shares a usable key with."""
    kept: list[tuple[int, int, float]] = []
    compared = 0
    for li in rows:
        candidates: set[int] = set()
        for k in left_keys[li]:
            if k in skip:
                continue
            bucket = index.get(k)
            if bucket is not None:
                candidates.update(bucket)
        compared += len(candidates)
        a = left[li]
        for ri in candidates:
            w = compare(a, right[ri])[0]
            if w >= REVIEW_WEIGHT:
                kept.append((li, ri, w))
    return kept, compared


def match_candidates(left: Sequence[MatchRecord], right: Sequence[MatchRecord]) -> list[Decision]:
    """Links and reviews for a page of remote records (`left`) against candidate app records (`right`)."""
    lp = [Prepared(r) for r in left]
    rp = [Prepared(r) for r in right]
    left_keys = [prepared_keys(p) for p in lp]
    index = _index([prepared_keys(p) for p in rp])
    kept, _ = _score_rows(range(len(lp)), lp, rp, left_keys, index, frozenset())
    outcomes = resolve(kept, [p.id for p in lp], [p.id for p in rp])
    return _decisions(outcomes, lp, rp)


# --- batch path -------------------------------------------------------------------------------------------
# Worker processes are forked and read the prepared records from these module globals, which the fork shares
# copy-on-write: nothing large is pickled on the way in, only the scored pairs on the way out.
_SHARED: dict[str, Any] = {}


def _prepare_chunk(chunk: Sequence[MatchRecord]) -> list[tuple[Prepared, set[str]]]:
    out = []
    for r in chunk:
        p = Prepared(r)
        out.append((p, prepared_keys(p)))
    return out


def _score_chunk(bounds: tuple[int, int]) -> tuple[int, list[tuple[int, int, float]], int]:
    s = _SHARED
    kept, compared = _score_rows(range(*bounds), s["left"], s["right"], s["left_keys"], s["index"], s["skip"])
    return bounds[1] - bounds[0], kept, compared


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(n, i + size)) for i in range(0, n, size)]


def _prepare_all(
    records: Sequence[MatchRecord],
    pool: Any,
    progress: Progress | None,
    done: int,
    total: int,
) -> tuple[list[Prepared], list[set[str]]]:
    prepared: list[Prepared] = []
    keys: list[set[str]] = []
    parts = [records[a:b] for a, b in _chunks(len(records), 2000)]
    results = pool.imap(_prepare_chunk, parts) if pool is not None else map(_prepare_chunk, parts)
    for part in results:
        for p, k in part:
            prepared.append(p)
            keys.append(k)
        done += len(part)
        if progress is not None:
            progress("prepare", done, total)
    return prepared, keys


def match_all(
    left: Sequence[MatchRecord],
    right: Sequence[MatchRecord],
    progress: Progress | None = None,
    workers: int | None = None,
    stats: BlockingStats | None = None,
) -> list[Decision]:
    """Match two whole sets; the batch counterpart of `match_candidates` (same pairs, same decisions).

    Keys whose block would produce more than `BLOCK_PAIR_LIMIT` pairs are skipped: in a large set they join
    unrelated companies by a common word or a shared switchboard, and the records concerned keep their other
    keys. `workers` defaults to the number of CPUs; 1 runs everything in this process.
    """
    workers = workers or os.cpu_count() or 1
    # A batch creates millions of small objects that all live until the end; the cyclic garbage collector
    # would rescan them again and again for nothing (there are no cycles), so it is paused for the run.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _match_all(left, right, progress, workers, stats)
    finally:
        if gc_was_enabled:
            gc.enable()


def _match_all(
    left: Sequence[MatchRecord],
    right: Sequence[MatchRecord],
    progress: Progress | None,
    workers: int,
    stats: BlockingStats | None,
) -> list[Decision]:
    use_pool = workers > 1 and len(left) + len(right) > 5000 and "fork" in multiprocessing.get_all_start_methods()
    total = len(left) + len(right)
    ctx = multiprocessing.get_context("fork") if use_pool else None
    # Preparation runs in this process: shipping prepared records back from workers costs more (pickling,
    # and a third process competing for the cores) than it saves. Scoring, which returns only small tuples,
    # is what the workers do.
    lp, left_keys = _prepare_all(left, None, progress, 0, total)
    rp, right_keys = _prepare_all(right, None, progress, len(left), total)
    index = _index(right_keys)
    del right_keys
    left_count: dict[str, int] = {}
    for ks in left_keys:
        for k in ks:
            left_count[k] = left_count.get(k, 0) + 1
    skip = frozenset(k for k, n in left_count.items() if k in index and n * len(index[k]) > BLOCK_PAIR_LIMIT)
    del left_count
    _SHARED.update(left=lp, right=rp, left_keys=left_keys, index=index, skip=skip)
    kept: list[tuple[int, int, float]] = []
    compared = 0
    try:
        bounds = _chunks(len(lp), 1000)
        if use_pool:
            assert ctx is not None
            with ctx.Pool(workers) as score_pool:
                results = score_pool.imap_unordered(_score_chunk, bounds)
                done = 0
                for size, part, n in results:
                    kept.extend(part)
                    compared += n
                    done += size
                    if progress is not None:
                        progress("score", done, len(lp))
        else:
            for a, b in bounds:
                _, part, n = _score_chunk((a, b))
                kept.extend(part)
                compared += n
                if progress is not None:
                    progress("score", b, len(lp))
    finally:
        _SHARED.clear()
    if stats is not None:
        stats.pairs = compared
        stats.skipped_keys = len(skip)
    outcomes = resolve(kept, [p.id for p in lp], [p.id for p in rp])
    return _decisions(outcomes, lp, rp)
