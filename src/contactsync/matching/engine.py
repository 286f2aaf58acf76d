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
import pickle
import traceback
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Literal

from contactsync.matching.blocking import BLOCK_PAIR_LIMIT, prepared_keys
from contactsync.matching.compare import compare, score
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


def _explain(a: Prepared, b: Prepared) -> tuple[float, dict[str, Any]]:
    weight, fields = compare(a, b, explain=True)
    assert fields is not None
    return weight, fields


def _decisions(
    outcomes: list[Outcome],
    left_ids: Sequence[str],
    right_ids: Sequence[str],
    explained: Sequence[tuple[float, dict[str, Any]]],
) -> list[Decision]:
    """Decisions for `outcomes`; `explained[i]` is `compare(..., explain=True)` of outcome i's pair."""
    out = []
    for o, (weight, fields) in zip(outcomes, explained, strict=True):
        explanation: dict[str, Any] = {
            "weight": round(weight, 2),
            "runner_up_weight": None if o.runner_up is None else round(o.runner_up, 2),
            "reason": o.reason,
            "fields": fields,
        }
        decision: Literal["link", "review"] = "link" if o.decision == "link" else "review"
        out.append(
            Decision(left_ids[o.left], right_ids[o.right], round(probability(o.weight), 4), decision, explanation)
        )
    out.sort(key=lambda d: (d.left_id, d.decision != "link", -d.score, d.right_id))
    return out


def _local_decisions(outcomes: list[Outcome], left: Sequence[Prepared], right: Sequence[Prepared]) -> list[Decision]:
    explained = [_explain(left[o.left], right[o.right]) for o in outcomes]
    return _decisions(outcomes, [p.id for p in left], [p.id for p in right], explained)


def _index(keys: Sequence[Collection[str]], first: int = 0) -> dict[str, list[int]]:
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


def _score_rows(
    rows: range,
    left: Sequence[Prepared],
    right: Sequence[Prepared],
    left_keys: Sequence[Collection[str]],
    index: dict[str, list[int]],
    skip: frozenset[str] | set[str],
    right_offset: int = 0,
) -> tuple[list[tuple[int, int, float]], int]:
    """Score every left row in `rows` against the right records it shares a usable key with.

    `index` holds right indices from `right_offset` on, and `right[ri - right_offset]` is record `ri`; the
    kept pairs carry the indices as the index gives them.
    """
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
            w = score(a, right[ri - right_offset], REVIEW_WEIGHT)
            if w >= REVIEW_WEIGHT:
                kept.append((li, ri, w))
    return kept, compared


def _score_buckets(
    rows: range,
    left: Sequence[Prepared],
    right: Sequence[Prepared],
    buckets: Sequence[tuple[list[int], ...]],
    right_offset: int,
) -> tuple[list[tuple[int, int, float]], int]:
    """`_score_rows` for a worker that has already looked up each left record's usable key buckets."""
    kept: list[tuple[int, int, float]] = []
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
            w = score(a, right[ri - right_offset], REVIEW_WEIGHT)
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
    return _local_decisions(outcomes, lp, rp)


# --- batch path -------------------------------------------------------------------------------------------
# With several processes, each worker owns one contiguous slice of the left side and one of the right side.
# It prepares both slices itself (forked workers inherit the raw records, so nothing is sent to them), keeps
# its right slice and that slice's key index for the whole run, and scores *every* left record against it.
# Prepared left slices, which every worker needs, are exchanged once through the parent as opaque pickled
# bytes together with each worker's right-side key counts (blocking needs the global counts). Prepared right
# records never cross a process boundary, and no worker reads the others' objects, so the copy-on-write
# page copying of a shared prepared set does not happen. Only the kept pairs and their explanations travel
# back to the parent, after which the workers end and free their memory while the parent decides.

_PROGRESS_EVERY = 2000


def _skip_keys(left_count: dict[str, int], right_count: dict[str, int]) -> set[str]:
    """Keys whose block would produce more than `BLOCK_PAIR_LIMIT` pairs."""
    skip = set()
    for k, n in left_count.items():
        m = right_count.get(k)
        if m is not None and n * m > BLOCK_PAIR_LIMIT:
            skip.add(k)
    return skip


def _count_keys(keys: Sequence[Collection[str]], among: Collection[str]) -> dict[str, int]:
    """How many records hold each key, for the keys in `among` (the others cannot form a block)."""
    count: dict[str, int] = {}
    for ks in keys:
        for k in ks:
            if k in among:
                count[k] = count.get(k, 0) + 1
    return count


def _bounds(n: int, parts: int, part: int) -> tuple[int, int]:
    return n * part // parts, n * (part + 1) // parts


def _prepare_slice(records: Sequence[MatchRecord], conn: Any) -> tuple[list[Prepared], list[tuple[str, ...]]]:
    prepared: list[Prepared] = []
    keys: list[tuple[str, ...]] = []
    for i, r in enumerate(records, 1):
        p = Prepared(r)
        prepared.append(p)
        keys.append(tuple(prepared_keys(p)))
        if conn is not None and i % _PROGRESS_EVERY == 0:
            conn.send(("prepare", _PROGRESS_EVERY))
    if conn is not None:
        conn.send(("prepare", len(records) % _PROGRESS_EVERY))
    return prepared, keys


def _work(part: int, parts: int, left: Sequence[MatchRecord], right: Sequence[MatchRecord], conn: Any) -> None:
    """One worker's whole run; talks to the parent over `conn` (see the protocol in `_match_parallel`)."""
    la, lb = _bounds(len(left), parts, part)
    ra, rb = _bounds(len(right), parts, part)
    own_left, own_left_keys = _prepare_slice(left[la:lb], conn)
    own_right, own_right_keys = _prepare_slice(right[ra:rb], conn)
    index = _index(own_right_keys, ra)
    del own_right_keys
    right_count = {k: len(v) for k, v in index.items()}
    # Pickled before the tag is sent, so that a failure here reaches the parent as an error message rather
    # than in place of the bytes it expects next.
    blob = pickle.dumps((own_left, own_left_keys, right_count), protocol=pickle.HIGHEST_PROTOCOL)
    conn.send(("prepared",))
    conn.send_bytes(blob)
    del blob
    all_left: list[Prepared] = []
    all_left_keys: list[tuple[str, ...]] = []
    for q in range(parts):
        if q == part:
            all_left.extend(own_left)
            all_left_keys.extend(own_left_keys)
            continue
        their_left, their_keys, their_count = pickle.loads(conn.recv_bytes())
        all_left.extend(their_left)
        all_left_keys.extend(their_keys)
        # Only keys this worker's slice holds matter here: no other key can give it a candidate.
        for k, n in their_count.items():
            if k in right_count:
                right_count[k] += n
        del their_left, their_keys, their_count
    del own_left, own_left_keys
    # One pass over every left record's keys keeps those this worker's slice holds (usually few) and counts
    # them; the block-size limit and the bucket lookups then only look at those.
    present: list[tuple[str, ...]] = []
    left_count: dict[str, int] = {}
    for ks in all_left_keys:
        mine = tuple(k for k in ks if k in right_count)
        present.append(mine)
        for k in mine:
            left_count[k] = left_count.get(k, 0) + 1
    del all_left_keys
    skip = _skip_keys(left_count, right_count)
    del right_count, left_count
    # From here on a left record needs only the buckets of its usable keys in this worker's index: holding
    # references to those lists instead of the key strings saves a large share of the worker's memory.
    buckets = [tuple(index[k] for k in mine if k not in skip) for mine in present]
    del present
    kept: list[tuple[int, int, float]] = []
    compared = 0
    for a, b in _chunks(len(all_left), _PROGRESS_EVERY):
        part_kept, n = _score_buckets(range(a, b), all_left, own_right, buckets, ra)
        kept.extend(part_kept)
        compared += n
        conn.send(("score", b - a))
    # Explain every kept pair now (a few per left record at most) rather than only the decided ones later,
    # so that the worker can exit, and free its memory, before the parent resolves and builds the decisions.
    # The index and the prepared left records no kept pair refers to are released first: the explanations
    # then reuse their memory instead of adding to the peak.
    needed = {li: all_left[li] for li, _, _ in kept}
    del all_left, buckets, index
    explained = [_explain(needed[li], own_right[ri - ra]) for li, ri, _ in kept]
    conn.send(("scored", kept, explained, compared, skip))


def _worker(
    part: int,
    parts: int,
    left: Sequence[MatchRecord],
    right: Sequence[MatchRecord],
    conn: Any,
    inherited: list[Connection],
) -> None:
    # A forked worker inherits the parent's ends of its own pipe and of the pipes of workers started before
    # it. Holding them open would keep its own writes from ever failing when the parent gives up on it (a
    # sibling failed), so it would block until terminated; they are the parent's, so the worker closes them.
    for c in inherited:
        c.close()
    try:
        _work(part, parts, left, right, conn)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(i, min(n, i + size)) for i in range(0, n, size)]


class _Workers:
    """The parent's side of the worker protocol: start, gather replies in part order, report progress."""

    def __init__(
        self,
        parts: int,
        left: Sequence[MatchRecord],
        right: Sequence[MatchRecord],
        progress: Progress | None,
    ) -> None:
        ctx = multiprocessing.get_context("fork")
        self.progress = progress
        self.done = {"prepare": 0, "score": 0}
        self.totals = {"prepare": len(left) + len(right), "score": len(left) * parts}
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for part in range(parts):
            mine, theirs = ctx.Pipe()
            inherited = [*self.conns, mine]
            proc = ctx.Process(target=_worker, args=(part, parts, left, right, theirs, inherited), daemon=True)
            proc.start()
            theirs.close()
            self.conns.append(mine)
            self.procs.append(proc)

    def gather(self, tag: str) -> list[tuple[Any, ...]]:
        """The next `tag` message of every worker (progress messages on the way are reported)."""
        replies: dict[int, tuple[Any, ...]] = {}
        waiting = {conn: part for part, conn in enumerate(self.conns)}
        while waiting:
            for conn in wait(list(waiting)):
                assert isinstance(conn, Connection)
                try:
                    message = conn.recv()
                except EOFError:
                    raise RuntimeError("a matching worker process ended unexpectedly") from None
                if message[0] == "error":
                    raise RuntimeError(f"a matching worker failed:\n{message[1]}")
                if message[0] == tag:
                    replies[waiting.pop(conn)] = message
                elif message[0] in self.done:
                    self._report(message[0], message[1])
        return [replies[part] for part in range(len(self.conns))]

    def _report(self, stage: str, n: int) -> None:
        self.done[stage] += n
        if self.progress is not None:
            # Every worker scores every left record against its own slice, so scoring counts in left records
            # finished by all workers.
            scale = len(self.conns) if stage == "score" else 1
            self.progress(stage, self.done[stage] // scale, self.totals[stage] // scale)

    def exchange(self) -> None:
        """Pass each worker's prepared left slice and right key counts on to all the other workers."""
        self.gather("prepared")
        blobs = [conn.recv_bytes() for conn in self.conns]
        for part, conn in enumerate(self.conns):
            for q, blob in enumerate(blobs):
                if q != part:
                    conn.send_bytes(blob)

    def close(self) -> None:
        """Wait for the workers to end (they end by themselves after scoring); stop them if they do not."""
        for conn in self.conns:
            conn.close()
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        self.conns, self.procs = [], []


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
        use_pool = workers > 1 and len(left) + len(right) > 5000 and "fork" in multiprocessing.get_all_start_methods()
        if use_pool:
            return _match_parallel(left, right, progress, workers, stats)
        return _match_here(left, right, progress, stats)
    finally:
        if gc_was_enabled:
            gc.enable()


def _match_here(
    left: Sequence[MatchRecord],
    right: Sequence[MatchRecord],
    progress: Progress | None,
    stats: BlockingStats | None,
) -> list[Decision]:
    total = len(left) + len(right)
    lp, left_keys = _prepare_slice(left, None)
    if progress is not None:
        progress("prepare", len(left), total)
    rp, right_keys = _prepare_slice(right, None)
    if progress is not None:
        progress("prepare", total, total)
    index = _index(right_keys)
    del right_keys
    right_count = {k: len(v) for k, v in index.items()}
    skip = _skip_keys(_count_keys(left_keys, right_count), right_count)
    del right_count
    kept: list[tuple[int, int, float]] = []
    compared = 0
    for a, b in _chunks(len(lp), _PROGRESS_EVERY):
        part, n = _score_rows(range(a, b), lp, rp, left_keys, index, skip)
        kept.extend(part)
        compared += n
        if progress is not None:
            progress("score", b, len(lp))
    if stats is not None:
        stats.pairs = compared
        stats.skipped_keys = len(skip)
    outcomes = resolve(kept, [p.id for p in lp], [p.id for p in rp])
    return _local_decisions(outcomes, lp, rp)


def _match_parallel(
    left: Sequence[MatchRecord],
    right: Sequence[MatchRecord],
    progress: Progress | None,
    parts: int,
    stats: BlockingStats | None,
) -> list[Decision]:
    """The batch over `parts` worker processes. Protocol, per worker: it sends progress messages throughout,
    ("prepared",) followed by its pickled slice as raw bytes, receives the other slices, sends ("scored",
    pairs, their explanations, pairs compared, keys skipped) and ends."""
    pool = _Workers(parts, left, right, progress)
    try:
        pool.exchange()
        kept: list[tuple[int, int, float]] = []
        explanations: dict[tuple[int, int], tuple[float, dict[str, Any]]] = {}
        compared = 0
        skipped: set[str] = set()
        for _, part_kept, part_explained, n, part_skipped in pool.gather("scored"):
            kept.extend(part_kept)
            explanations.update(zip(((li, ri) for li, ri, _ in part_kept), part_explained, strict=True))
            compared += n
            skipped |= part_skipped  # each worker knows the skipped keys its own slice holds
        pool.close()
        if stats is not None:
            stats.pairs = compared
            stats.skipped_keys = len(skipped)
        left_ids = [r.id for r in left]
        right_ids = [r.id for r in right]
        outcomes = resolve(kept, left_ids, right_ids)
        del kept
        explained = [explanations[o.left, o.right] for o in outcomes]
        del explanations
        return _decisions(outcomes, left_ids, right_ids, explained)
    finally:
        pool.close()
