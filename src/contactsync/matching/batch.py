"""The batch path over worker processes: each worker owns a slice of both sides (see the protocol below).

Kept apart from `engine` because it is plumbing (processes, pipes, pickled slices) around the same scoring
steps (`scoring`) that the single-process path runs in place.
"""

from __future__ import annotations

import multiprocessing
import pickle
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import repeat
from multiprocessing.connection import Connection, wait
from operator import add
from typing import Any

from contactsync.matching.blocking import chosen_keys, common_keys
from contactsync.matching.calibrate import calibrated, token_counts
from contactsync.matching.decide import Pair, resolve
from contactsync.matching.explaining import bounds, explain_apart
from contactsync.matching.model import Model
from contactsync.matching.prepared import Prepared
from contactsync.matching.record import MatchRecord
from contactsync.matching.scoring import (
    CALIBRATION_STRIDE,
    PROGRESS_EVERY,
    Decision,
    buckets_by,
    candidate_patterns,
    chunks,
    count_random_patterns,
    decisions,
    index_keys,
    prepare_slice,
    sample_candidates,
    score_rows,
)
from contactsync.matching.stats import BlockingStats, Progress

# --- batch path -------------------------------------------------------------------------------------------
# With several processes, each worker owns one contiguous slice of the left side and one of the right side.
# It prepares both slices itself (forked workers inherit the raw records, so nothing is sent to them), keeps
# its right slice and that slice's key index for the whole run, and scores *every* left record against it.
# Each worker's right-side key counts, then its prepared left slice with those records' finding keys (chosen
# by the global counts), are exchanged once each through the parent as opaque pickled bytes. Prepared right
# records never cross a process boundary, and no worker reads the others' objects, so the copy-on-write
# page copying of a shared prepared set does not happen. Only the kept pairs travel back to the parent, with
# the prepared records they refer to, after which the workers end and free their memory while the parent
# decides and explains the decided pairs (in processes forked for it, `explaining.explain_apart`).


def _own_finding_keys(
    left_keys: Sequence[tuple[str, ...]], own: dict[str, int], others: Sequence[dict[str, int]]
) -> list[tuple[str, ...]]:
    """Each of this worker's left records' finding keys (`blocking.finding_keys`) by the global counts.
    `own`: this slice's right-side counts; `others`: the other slices' counts."""

    # Every key of every left record is counted here: `map` over the counts' `get` does the lookups in C (a
    # Python call per key took about as long as preparing the records' keys).
    own_get = own.get
    other_gets = [c.get for c in others]
    zeros = repeat(0)
    out: list[tuple[str, ...]] = []
    for ks in left_keys:
        counts = list(map(own_get, ks, zeros))
        for get in other_gets:
            counts = list(map(add, counts, map(get, ks, zeros)))
        out.append(tuple(chosen_keys(ks, counts)))
    return out


# Records per pickled piece of a prepared left slice: the whole slice pickled at once (about 30 MiB for 55,000
# people) was held beside the worker's own slices, and so was the other slice's on arrival.
EXCHANGE_PIECE = 10000


def _send_pieces(conn: Any, tag: str, pieces: Sequence[Any]) -> None:
    """`(tag, number of pieces)`, then each piece pickled as raw bytes, one at a time. The first piece is
    pickled before the tag is sent, so that a failure there reaches the parent as an error message rather
    than in place of the bytes it expects next."""
    blobs = (pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL) for piece in pieces)
    first = next(blobs)
    conn.send((tag, len(pieces)))
    conn.send_bytes(first)
    del first
    for blob in blobs:
        conn.send_bytes(blob)


def _receive(conn: Any, part: int, parts: int, own: Sequence[Any]) -> Iterator[Any]:
    """Every slice's unpickled pieces in part order, this worker's own pieces `own` at its place; each piece
    is unpickled as it arrives, so only one piece's bytes are held at a time."""
    for q in range(parts):
        if q == part:
            yield from own
            continue
        for _ in range(conn.recv()):
            yield pickle.loads(conn.recv_bytes())


def _work(
    part: int,
    parts: int,
    left: Sequence[MatchRecord],
    right: Sequence[MatchRecord],
    model: Model,
    calibrate: bool,
    conn: Any,
) -> None:
    """One worker's whole run; talks to the parent over `conn` (see the protocol in `match_parallel`)."""
    la, lb = bounds(len(left), parts, part)
    ra, rb = bounds(len(right), parts, part)
    own_left, own_left_keys = prepare_slice(left[la:lb], conn)
    own_right, own_right_keys = prepare_slice(right[ra:rb], conn)
    index = index_keys(own_right_keys, ra)
    del own_right_keys
    right_count = dict(zip(index, map(len, index.values()), strict=True))
    # First the right-side key counts go round, so that each worker chooses its own left records' finding keys
    # by the global counts and passes on only those (two or three per record) rather than all their keys (a
    # person has about two dozen): the other slices' full key lists were the largest part of a worker's memory.
    _send_pieces(conn, "counts", [right_count])
    others = list(_receive(conn, part, parts, []))
    own_finding = _own_finding_keys(own_left_keys, right_count, others)
    del own_left_keys
    # Only keys this worker's slice holds matter from here on: no other key can give it a candidate.
    for their_count in others:
        for k, n in their_count.items():
            if k in right_count:
                right_count[k] += n
    del others
    own_pieces = [
        (own_left[i : i + EXCHANGE_PIECE], own_finding[i : i + EXCHANGE_PIECE])
        for i in range(0, max(len(own_left), 1), EXCHANGE_PIECE)
    ]
    _send_pieces(conn, "prepared", own_pieces)
    all_left: list[Prepared] = []
    present: list[tuple[str, ...]] = []
    for their_left, their_finding in _receive(conn, part, parts, own_pieces):
        all_left.extend(their_left)
        present.extend(tuple(filter(right_count.__contains__, ks)) for ks in their_finding)
    del own_left, own_finding, own_pieces
    skip = common_keys(right_count)
    del right_count
    # From here on a left record needs only the buckets of its usable keys in this worker's index: holding
    # references to those lists instead of the key strings saves a large share of the worker's memory.
    buckets = buckets_by(present, index)
    del present
    if calibrate:
        # Every worker sees the same left records against its own right slice, so the parent's merge of the
        # samples is the single-process sample, and all workers receive the same calibrated model.
        counts = token_counts(p.tokens + p.descriptors for p in own_right)
        randoms = count_random_patterns(len(all_left), all_left, own_right, ra, len(right), model)
        conn.send(("patterns", sample_candidates(all_left, own_right, buckets, model, ra), randoms, counts))
        model = conn.recv()
    kept: list[Pair] = []
    compared = 0
    for a, b in chunks(len(all_left), PROGRESS_EVERY):
        part_kept, n = score_rows(range(a, b), all_left, own_right, buckets, model, ra)
        kept.extend(part_kept)
        compared += n
        conn.send(("score", b - a))
    # The prepared records of the kept pairs go to the parent, which explains only the decided pairs once the
    # workers have ended. Explaining every kept pair here made the run's peak: a few nested dicts per pair, built
    # and pickled while both workers still held their whole slices, and unpickled again in the parent.
    needed_left = {li: all_left[li] for li, _, _, _ in kept}
    del all_left, buckets, index
    needed_right = {ri: own_right[ri - ra] for _, ri, _, _ in kept}
    del own_right
    conn.send(("scored", kept, needed_left, needed_right, compared, skip))


def _worker(
    part: int,
    parts: int,
    left: Sequence[MatchRecord],
    right: Sequence[MatchRecord],
    model: Model,
    calibrate: bool,
    conn: Any,
    inherited: list[Connection],
) -> None:
    # A forked worker inherits the parent's ends of its own pipe and of the pipes of workers started before
    # it. Holding them open would keep its own writes from ever failing when the parent gives up on it (a
    # sibling failed), so it would block until terminated; they are the parent's, so the worker closes them.
    for c in inherited:
        c.close()
    try:
        _work(part, parts, left, right, model, calibrate, conn)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class _Workers:
    """The parent's side of the worker protocol: start, gather replies in part order, report progress."""

    def __init__(
        self,
        parts: int,
        left: Sequence[MatchRecord],
        right: Sequence[MatchRecord],
        model: Model,
        calibrate: bool,
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
            proc = ctx.Process(
                target=_worker, args=(part, parts, left, right, model, calibrate, theirs, inherited), daemon=True
            )
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

    def exchange(self, tag: str) -> None:
        """Pass each worker's `tag` message's bytes (its right key counts, then its prepared left slice and
        those records' finding keys) on to all the other workers."""
        replies = self.gather(tag)
        blobs = [[conn.recv_bytes() for _ in range(reply[1])] for conn, reply in zip(self.conns, replies, strict=True)]
        for part, conn in enumerate(self.conns):
            for q, pieces in enumerate(blobs):
                if q != part:
                    conn.send(len(pieces))
                    for blob in pieces:
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


def match_parallel(
    left: Sequence[MatchRecord],
    right: Sequence[MatchRecord],
    progress: Progress | None,
    parts: int,
    stats: BlockingStats | None,
    model: Model,
    calibrate: bool = False,
) -> list[Decision]:
    """The batch over `parts` worker processes. Protocol, per worker: it sends progress messages throughout,
    ("counts", 1) followed by its right slice's pickled key counts as raw bytes, receives the other slices'
    (each as the number of pieces, then the pieces); ("prepared", n) followed by its left slice and their
    finding keys pickled in n pieces (`EXCHANGE_PIECE` records each), receives the other slices'; with
    `calibrate` it sends ("patterns", its sample of candidate pairs, word counts) and receives the calibrated
    model; it sends ("scored", pairs, the prepared left and right records they refer to by index, pairs
    compared, keys skipped) and ends."""
    pool = _Workers(parts, left, right, model, calibrate, progress)
    try:
        pool.exchange("counts")
        pool.exchange("prepared")
        if calibrate:
            samples = []
            randoms: Counter[tuple[str, ...]] = Counter()
            counts: Counter[str] = Counter()
            for _, part_sample, part_randoms, part_counts in pool.gather("patterns"):
                samples.append(part_sample)
                randoms.update(part_randoms)
                counts.update(part_counts)
            patterns, losers = candidate_patterns(samples)
            del samples
            sampled = len(range(0, len(left), CALIBRATION_STRIDE))
            model = calibrated(patterns, losers, randoms, counts, sampled, len(right), model)
            for conn in pool.conns:
                conn.send(model)
        if stats is not None:
            stats.model = model
        kept: list[Pair] = []
        lefts: dict[int, Prepared] = {}
        rights: dict[int, Prepared] = {}
        compared = 0
        skipped: set[str] = set()
        for _, part_kept, part_left, part_right, n, part_skipped in pool.gather("scored"):
            kept.extend(part_kept)
            lefts.update(part_left)
            rights.update(part_right)
            compared += n
            skipped |= part_skipped  # each worker knows the skipped keys its own slice holds
        pool.close()
        if stats is not None:
            stats.pairs = compared
            stats.skipped_keys = len(skipped)
        left_ids = [r.id for r in left]
        right_ids = [r.id for r in right]
        outcomes = resolve(kept, left_ids, right_ids, model)
        del kept
        explained = explain_apart([(o.left, o.right) for o in outcomes], lefts, rights, model, parts)
        del lefts, rights
        return decisions(outcomes, left_ids, right_ids, explained)
    finally:
        pool.close()
