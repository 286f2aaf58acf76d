"""The decided pairs of a batch explained in processes forked for it, once the batch's workers have ended.

Apart from `batch` because it is the one step after the workers: it forks its own processes over the kept
pairs' prepared records (inherited, not sent) and gathers only the explanations back.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from contactsync.matching.model import Model
from contactsync.matching.prepared import Prepared
from contactsync.matching.scoring import explain


def bounds(n: int, parts: int, part: int) -> tuple[int, int]:
    """The [start, end) of `part`'s contiguous share when `n` items are split over `parts` processes."""
    return n * part // parts, n * (part + 1) // parts


# Pairs per message of an explaining process (`explain_apart`).
EXPLAIN_PIECE = 2000


def _explainer(
    pairs: Sequence[tuple[int, int]],
    lefts: dict[int, Prepared],
    rights: dict[int, Prepared],
    model: Model,
    conn: Any,
    inherited: list[Connection],
) -> None:
    """One explaining process (`explain_apart`): explains its share of the pairs and sends the explanations."""
    for c in inherited:  # the parent's ends (see `batch._worker`)
        c.close()
    try:
        # In pieces: the explanations of a whole half held at once (and pickled beside them) added about 100 MiB
        # to a 100k company run's peak; a piece's objects are freed before the next is built.
        for i in range(0, len(pairs), EXPLAIN_PIECE):
            conn.send(("explained", [explain(lefts[li], rights[ri], model) for li, ri in pairs[i : i + EXPLAIN_PIECE]]))
        conn.send(("done", None))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def explain_apart(
    pairs: Sequence[tuple[int, int]],
    lefts: dict[int, Prepared],
    rights: dict[int, Prepared],
    model: Model,
    parts: int,
) -> list[tuple[float, dict[str, Any]]]:
    """`explain` of each (left, right) pair, spread over `parts` processes forked for it.

    The decided pairs are explained once the workers have ended: explained in the workers, whose memory
    stays at their peak until they end, the run's peak rose by about 100 MiB; explained in the parent alone
    they took 3-4 s of wall time at 100k. Forked now, the processes inherit the kept pairs' prepared records
    and send back only the explanations (about a tenth of the cost of building them)."""
    ctx = multiprocessing.get_context("fork")
    conns: list[Connection] = []
    procs: list[Any] = []
    try:
        for part in range(parts):
            a, b = bounds(len(pairs), parts, part)
            mine, theirs = ctx.Pipe(duplex=False)
            inherited = [*conns, mine]
            proc = ctx.Process(
                target=_explainer, args=(pairs[a:b], lefts, rights, model, theirs, inherited), daemon=True
            )
            proc.start()
            theirs.close()
            conns.append(mine)
            procs.append(proc)
        # Read from whichever process has a piece ready, so that neither waits on a full pipe for the other.
        pieces: list[list[tuple[float, dict[str, Any]]]] = [[] for _ in conns]
        waiting = {conn: part for part, conn in enumerate(conns)}
        while waiting:
            for conn in wait(list(waiting)):
                assert isinstance(conn, Connection)
                try:
                    tag, payload = conn.recv()
                except EOFError:
                    raise RuntimeError("a matching process ended unexpectedly") from None
                if tag == "error":
                    raise RuntimeError(f"a matching process failed:\n{payload}")
                if tag == "done":
                    del waiting[conn]
                else:
                    pieces[waiting[conn]].extend(payload)
        return [e for piece in pieces for e in piece]
    finally:
        for conn in conns:
            conn.close()
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
