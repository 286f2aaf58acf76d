"""The one place a ledger entry changes state (see `states.WRITE_TRANSITIONS` for the moves allowed)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from contactsync.models import WriteOp
from contactsync.models.base import table_of, utcnow
from contactsync.states import WRITE_TRANSITIONS, WriteState
from contactsync.store.arrays import row_params, rows_subquery
from contactsync.store.transitions import checked_move


class WriteTransitionError(RuntimeError):
    """An entry was asked to leave a state it may not leave (a bug, never a provider's doing)."""


def move_write(op: WriteOp, to: WriteState) -> None:
    """Move `op` (loaded in the caller's transaction) to `to`; staying where it is always allowed."""
    checked_move(op, to, WRITE_TRANSITIONS, WriteTransitionError, what="write", stay=True)
    op.updated_at = utcnow()


# What `move_write` and the writer's bookkeeping set on an entry; `save_writes` writes these columns.
_SAVED = ("status", "attempts", "first_sent_at", "last_error", "remote_id", "updated_at")


def save_writes(s: Session, ops: Sequence[WriteOp]) -> None:
    """Write the state of loaded entries (moved by `move_write`, with their attempts, times, error and remote id)
    in one UPDATE for all of them, in the caller's transaction.

    The ORM would send one UPDATE per entry and keep books per object, about a tenth of a write batch's CPU for a
    group's marking and closing. Afterwards the entries are clean in the session (their values are what the
    database holds in this transaction), so a later flush does not write them again.
    """
    unique = list({op.id: op for op in ops}.values())  # an entry listed twice is one row to update
    if not unique:
        return
    rows = [{"id": op.id, **{name: getattr(op, name) for name in _SAVED}} for op in unique]
    with s.no_autoflush:  # else the ORM would write the same entries first, one UPDATE each
        s.execute(_saved_update(), row_params(rows))
    for op in unique:
        for name in _SAVED:
            set_committed_value(op, name, getattr(op, name))


@functools.cache
def _saved_update() -> Any:
    """`UPDATE write_ops … FROM` the rows of one JSON parameter (`store.arrays`), built once per process."""
    table = table_of(WriteOp)
    rows = rows_subquery(table, ("id", *_SAVED))
    return update(table).where(table.c.id == rows.c.id).values({name: rows.c[name] for name in _SAVED})
