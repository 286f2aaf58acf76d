"""A task never acts through another tenant's connection, whatever a (corrupt or forged) row points at.

These checks used to be `assert`s, which `python -O` removes; they are real exceptions now, and these tests fail
if they go: without the check, fetch and write would open the other tenant's provider with its credentials.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from contactsync import db
from contactsync.models import SyncRun, WriteOp
from contactsync.models.base import utcnow
from contactsync.states import RunStatus, WriteState
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.ledger import plan_into_ledger
from contactsync.store.runs import cursor_of, start_run
from contactsync.store.tenants import TenantMismatch, connection_of
from contactsync.tasks.fetch import fetch
from contactsync.tasks.write import write
from tests.test_store import company, make_tenant


def _two_tenants() -> tuple[int, int]:
    return make_tenant("t1"), make_tenant("t2")


def test_fetch_refuses_a_run_pointing_at_another_tenants_connection(env: dict[str, str]) -> None:
    _mine, theirs = _two_tenants()
    with db.session() as s:
        conn = connection_of(s, "t1")
        assert conn is not None
        run = start_run(s, conn, full=True)
        assert run is not None
        run_id = run.id
    with db.session() as s:
        s.execute(update(SyncRun).where(SyncRun.id == run_id).values(connection_id=theirs))
    with pytest.raises(TenantMismatch):
        fetch("t1", run_id)  # in-process: the task body, as a worker would run it
    with db.session() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None and run.status == RunStatus.FETCHING and run.pages_fetched == 0 and run.api_calls == 0


def test_write_refuses_a_ledger_entry_pointing_at_another_tenants_connection(env: dict[str, str]) -> None:
    _mine, theirs = _two_tenants()
    with db.session() as s:
        upsert_app_contacts(s, "t1", [("a1", company("Alpha GmbH"))])
        conn = connection_of(s, "t1")
        assert conn is not None
        run = start_run(s, conn, full=True)
        assert run is not None
        run.status = RunStatus.WRITING
        cursor_of(s, conn).last_full_at = utcnow()
        plan_into_ledger(s, "t1", conn.id, run.id, allow_creates=True)
        op = s.scalar(select(WriteOp))
        assert op is not None and op.status == WriteState.PENDING
        op_id = op.id
    with db.session() as s:
        s.execute(update(WriteOp).where(WriteOp.id == op_id).values(connection_id=theirs))
    with pytest.raises(TenantMismatch):
        write("t1", op_id)
    with db.session() as s:
        op = s.get(WriteOp, op_id)
        assert op is not None and op.status == WriteState.PENDING and op.attempts == 0
