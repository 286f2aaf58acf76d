"""Advisory locks on ledger entries: one worker at a time works on an entry.

A write task locks every entry of its batch in one PostgreSQL session for as long as it works on them. Session
locks die with the session, so a worker killed mid-batch releases them at once, and whoever takes the entries up
next reads their state as the dead worker left it on disk.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

from contactsync import db

LOCK_CLASS = 7301  # first key of the two-key advisory lock; the second is the ledger id
LOCK_TRIES, LOCK_PAUSE_SECONDS = 4, 0.25


@contextmanager
def locked_entries(op_ids: list[int]) -> Iterator[list[int]]:
    """The entries of `op_ids` no other worker holds, locked for this task until the block ends.

    An entry held by another task is skipped: that task sends it. A task that has just queued its own retry may
    still hold its locks for a moment, so a busy entry is tried again briefly before it is left to the holder.
    """
    with db.engine().connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        mine = _try_locks(conn, op_ids)
        for _ in range(LOCK_TRIES):
            busy = [o for o in op_ids if o not in set(mine)]
            if not busy:
                break
            time.sleep(LOCK_PAUSE_SECONDS)
            mine = sorted([*mine, *_try_locks(conn, busy)], key=op_ids.index)
        try:
            yield mine
        finally:
            if mine:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:c, o) FROM unnest(CAST(:ids AS integer[])) AS o"),
                    {"c": LOCK_CLASS, "ids": mine},
                )


def _try_locks(conn: Connection, op_ids: list[int]) -> list[int]:
    rows = conn.execute(
        text(
            "SELECT o FROM unnest(CAST(:ids AS integer[])) WITH ORDINALITY AS t(o, n)"
            " WHERE pg_try_advisory_lock(:c, o) ORDER BY n"
        ),
        {"c": LOCK_CLASS, "ids": op_ids},
    )
    return [int(r[0]) for r in rows]
