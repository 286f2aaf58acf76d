"""The one place a ledger entry changes state (see `states.WRITE_TRANSITIONS` for the moves allowed)."""

from __future__ import annotations

from contactsync.models import WriteOp
from contactsync.models.base import utcnow
from contactsync.states import WRITE_TRANSITIONS, WriteState
from contactsync.store.transitions import checked_move


class WriteTransitionError(RuntimeError):
    """An entry was asked to leave a state it may not leave (a bug, never a provider's doing)."""


def move_write(op: WriteOp, to: WriteState) -> None:
    """Move `op` (loaded in the caller's transaction) to `to`; staying where it is always allowed."""
    checked_move(op, to, WRITE_TRANSITIONS, WriteTransitionError, what="write", stay=True)
    op.updated_at = utcnow()
