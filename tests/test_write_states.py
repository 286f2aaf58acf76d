"""The ledger's state machine: settled entries stay settled, refused ones leave only by being reopened."""

from __future__ import annotations

import pytest

from contactsync.models import AppContact, WriteOp
from contactsync.states import OPEN_WRITE_STATES, WRITE_TRANSITIONS, WriteState
from contactsync.store.write_states import WriteTransitionError, move_write


def entry(status: WriteState) -> WriteOp:
    return WriteOp(id=1, status=status)


def test_every_state_has_its_moves_stated() -> None:
    assert set(WRITE_TRANSITIONS) == set(WriteState)


@pytest.mark.parametrize("settled", [WriteState.DONE, WriteState.CANCELLED])
@pytest.mark.parametrize("to", [s for s in WriteState])
def test_a_settled_entry_never_moves(settled: WriteState, to: WriteState) -> None:
    op = entry(settled)
    if to == settled:
        move_write(op, to)  # staying is no move
    else:
        with pytest.raises(WriteTransitionError):
            move_write(op, to)
    assert op.status == settled


def test_a_refused_entry_is_only_reopened_or_cancelled() -> None:
    for to in (WriteState.PENDING, WriteState.UNCERTAIN, WriteState.CANCELLED):
        op = entry(WriteState.FAILED)
        move_write(op, to)
        assert op.status == to and op.updated_at is not None
    for to in (WriteState.IN_FLIGHT, WriteState.DONE, WriteState.PARKED):
        with pytest.raises(WriteTransitionError):
            move_write(entry(WriteState.FAILED), to)


@pytest.mark.parametrize("start", OPEN_WRITE_STATES)
def test_open_entries_move_as_the_evidence_says(start: WriteState) -> None:
    for to in WriteState:
        op = entry(start)
        move_write(op, to)
        assert op.status == to


def test_a_creates_sent_version_is_the_kept_one_else_the_apps_only_while_it_holds_what_was_sent() -> None:
    sent = {"name": "Acme GmbH", "currency": "EUR"}
    kept = WriteOp(id=1, kind="create", payload=sent, app_version=3)
    assert kept.sent_app_version(AppContact(data={"name": "Acme GmbH", "currency": "GBP"}, version=5)) == 3
    legacy = WriteOp(id=2, kind="create", payload=sent, app_version=None)
    assert legacy.sent_app_version(AppContact(data=dict(sent), version=4)) == 4
    # The app edited since the plan: the app's version now would call that edit synced
    assert legacy.sent_app_version(AppContact(data={"name": "Acme GmbH", "currency": "GBP"}, version=5)) is None
