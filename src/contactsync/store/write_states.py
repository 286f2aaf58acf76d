"""The one place a ledger entry changes state (see `states.WRITE_TRANSITIONS` for the moves allowed)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from contactsync.models import WriteOp
from contactsync.models.base import table_of, utcnow
from contactsync.states import WRITE_TRANSITIONS, WriteState
from contactsync.store.arrays import save_loaded
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
    save_loaded(s, ops, _SAVED, table_of(WriteOp))
