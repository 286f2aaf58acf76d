"""Ledger entries a person looks at: writes the platform refused, creates whose answer was lost, and sending the
refused ones again (`contactsync writes ...`)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from contactsync.models import AppContact, WriteOp
from contactsync.states import WriteState
from contactsync.store.write_states import move_write


def _ops_in(s: Session, tenant_id: str, state: WriteState, limit: int) -> list[WriteOp]:
    query = select(WriteOp).where(WriteOp.tenant_id == tenant_id, WriteOp.status == state)
    return list(s.scalars(query.order_by(WriteOp.id).limit(limit)))


def failed_ops(s: Session, tenant_id: str, limit: int = 100) -> list[WriteOp]:
    """Writes the platform refused, kept for a person."""
    return _ops_in(s, tenant_id, WriteState.FAILED, limit)


def parked_ops(s: Session, tenant_id: str, limit: int = 100) -> list[WriteOp]:
    """Creates whose answer was lost, waiting for their echo or for a walk that proves them absent."""
    return _ops_in(s, tenant_id, WriteState.PARKED, limit)


class Reopened(NamedTuple):
    reopened: int
    superseded: int  # updates cancelled instead: the next plan sends the contact's current values


def reopen_failed(s: Session, tenant_id: str) -> Reopened:
    """Give writes the platform refused another chance (after a person fixed the data or the platform's
    settings); the next run sends them again. A create is reopened as `uncertain`, so it looks before it sends.

    An update is reopened only while it is still the newest word on its contact: once the app contact changed
    after its plan, or a later update of the contact was planned, sending it would put an older value back on
    the platform (possibly after the newer one). It is cancelled instead; its pair was never marked synced, so
    the next plan sends what the app holds now, the refused fields included."""
    ops = list(
        s.scalars(
            select(WriteOp)
            .where(WriteOp.tenant_id == tenant_id, WriteOp.status == WriteState.FAILED)
            .order_by(WriteOp.id)
        )
    )
    reopened = superseded = 0
    for op in ops:
        if op.kind == "update" and _superseded(s, op):
            op.last_error = f"cancelled on retry: a newer change of the contact supersedes it ({op.last_error or ''})"[
                :2000
            ]
            move_write(op, WriteState.CANCELLED)
            superseded += 1
            continue
        move_write(op, WriteState.UNCERTAIN if op.kind == "create" else WriteState.PENDING)
        reopened += 1
    return Reopened(reopened, superseded)


def _superseded(s: Session, op: WriteOp) -> bool:
    later = s.scalar(
        select(WriteOp.id)
        .where(WriteOp.app_contact_id == op.app_contact_id, WriteOp.kind == "update", WriteOp.id > op.id)
        .limit(1)
    )
    if later is not None:
        return True
    base = op.payload.get("base")
    app = s.get(AppContact, op.app_contact_id)
    return app is None or (isinstance(base, dict) and base.get("app_hash") != app.content_hash)
