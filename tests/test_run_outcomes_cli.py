"""`contactsync runs` shows why a run is partial, and `contactsync sync --wait` exits non-zero for it."""

from __future__ import annotations

import threading
import time

import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from contactsync import db
from contactsync.cli import app
from contactsync.models import SyncRun
from contactsync.models.base import utcnow
from contactsync.store.tenants import upsert_tenant


def _tenant() -> None:
    with db.session() as s:
        upsert_tenant(
            s,
            "t1",
            name="T",
            dialect="merge",
            base_url="http://127.0.0.1:9/api/accounting/v1",
            api_key="k",
            account_token="tok",
        )


def _end_first_run(status: str, write_errors: int, parked: int, walk_restarts: int = 0) -> None:
    """Plays the workers: ends the run the CLI started, the way `finish_writing` would."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with db.session() as s:
            run = s.scalar(select(SyncRun))
            if run is not None:
                run.status, run.write_errors, run.parked = status, write_errors, parked
                run.walk_restarts = walk_restarts
                run.error, run.finished_at = "2 create(s) whose answer was lost wait parked for evidence", utcnow()
                return
        time.sleep(0.1)


def test_sync_wait_exits_non_zero_for_a_partial_run_and_runs_shows_the_counts(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _tenant()
    ender = threading.Thread(target=_end_first_run, args=("partial", 1, 2, 3))
    ender.start()
    result = CliRunner().invoke(app, ["sync", "t1", "--wait"])
    ender.join()
    assert result.exit_code == 1, result.output
    assert "partial" in result.output and "parked" in result.output
    monkeypatch.setattr("contactsync.cli.ops.console", Console(width=250))
    shown = CliRunner().invoke(app, ["runs", "--wide"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    header = next(line for line in lines if line.startswith("run ")).split()
    row = next(line for line in lines if " partial " in line).split()
    assert row[2] == "partial"
    # `started` (date and time) takes two words of the row
    assert row[header.index("err") + 1] == "1" and row[header.index("parked") + 1] == "2"  # write_errors, parked
    assert row[header.index("back") + 1] == "3"  # the walk went back three times


def test_sync_wait_exits_zero_only_for_success(env: dict[str, str]) -> None:
    _tenant()
    ender = threading.Thread(target=_end_first_run, args=("succeeded", 0, 0))
    ender.start()
    result = CliRunner().invoke(app, ["sync", "t1", "--wait"])
    ender.join()
    assert result.exit_code == 0, result.output


def test_writes_parked_lists_the_creates_waiting_for_evidence(env: dict[str, str]) -> None:
    from contactsync.contact import CanonicalContact
    from contactsync.models import WriteOp
    from contactsync.store.contacts import upsert_app_contacts
    from contactsync.store.ledger import plan_into_ledger
    from contactsync.store.runs import cursor_of, start_run
    from contactsync.store.tenants import connection_of

    _tenant()
    with db.session() as s:
        contacts = [("a1", CanonicalContact(name="Waiting GmbH")), ("a2", CanonicalContact(name="Sent AG"))]
        upsert_app_contacts(s, "t1", contacts)
        conn = connection_of(s, "t1")
        assert conn is not None
        run = start_run(s, conn, full=True)
        assert run is not None
        cursor_of(s, conn).last_full_at = utcnow()
        plan_into_ledger(s, "t1", conn.id, run.id, allow_creates=True)
        waiting = next(op for op in s.scalars(select(WriteOp)) if op.payload["name"] == "Waiting GmbH")
        waiting.status, waiting.first_sent_at, waiting.last_error = "parked", utcnow(), "parked, not found yet"
    shown = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["writes", "parked", "t1"])
    assert shown.exit_code == 0, shown.output
    assert "Waiting GmbH" in shown.output and "Sent AG" not in shown.output
