"""Planner statistics: the tables a sync fills in bulk are analyzed by autovacuum's rule, and never at a run's cost.

The test databases are copies of a template the migrations made, so their tables start without statistics, as a
new deployment's do; `analyze_count` counts manual ANALYZEs only (autovacuum's are `autoanalyze_count`).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from contactsync import db
from contactsync.demo import split_companies
from contactsync.embedded import refresh_process_settings
from contactsync.sandbox.seed import companies
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.statistics import BULK_TABLES, refresh_stale_statistics, stale_tables
from contactsync.store.tenants import upsert_tenant
from tests.pipeline import analyses, autovacuum_off


def _load_app_contacts(count: int) -> None:
    split = split_companies(companies(5, count))
    autovacuum_off(BULK_TABLES)
    with db.session() as s:
        upsert_tenant(s, "t1", name="Tenant", dialect="merge", base_url="http://127.0.0.1:1", api_key="k",
                      account_token="acct")  # fmt: skip
        upsert_app_contacts(s, "t1", split.app)
    db.engine().dispose()  # the loading connections end: the server counts their changes in its statistics


def _wait_stale(table: str, timeout: float = 30) -> None:
    """The server publishes a session's row changes shortly after its transactions: wait until it has."""
    deadline = time.monotonic() + timeout
    while table not in stale_tables():
        assert time.monotonic() < deadline, f"{table} never counted as changed"
        time.sleep(0.2)


def test_bulk_loaded_tables_are_analyzed_once_and_then_left_alone(env: dict[str, str]) -> None:
    assert analyses("app_contacts") == (0, -1)
    _load_app_contacts(600)
    _wait_stale("app_contacts")
    _wait_stale("contact_keys")

    analyzed = refresh_stale_statistics()

    assert {"app_contacts", "contact_keys"} <= set(analyzed)
    count, rows = analyses("app_contacts")
    assert count == 1 and rows > 100  # the planner now knows the table holds the loaded contacts
    assert analyses("contact_keys")[0] == 1
    assert refresh_stale_statistics() == []  # nothing changed since: autovacuum's rule finds nothing to do
    assert analyses("app_contacts")[0] == 1


def test_a_table_another_session_is_analyzing_is_skipped_not_waited_for(env: dict[str, str]) -> None:
    _load_app_contacts(600)
    _wait_stale("app_contacts")
    _wait_stale("contact_keys")
    with db.engine().connect() as holder:
        # The lock an ANALYZE (autovacuum's too) holds while it runs.
        holder.execute(text("LOCK TABLE app_contacts IN SHARE UPDATE EXCLUSIVE MODE"))
        analyzed = refresh_stale_statistics()
        assert "app_contacts" not in analyzed
        assert "contact_keys" in analyzed  # the other tables are not held up by the busy one
        assert analyses("app_contacts")[0] == 0
        holder.rollback()
    assert "app_contacts" in refresh_stale_statistics()  # the next run's end takes it up


def test_switched_off_nothing_is_analyzed(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTACTSYNC_ANALYZE_AFTER_RUNS", "false")
    refresh_process_settings()
    _load_app_contacts(600)
    _wait_stale("app_contacts")
    assert refresh_stale_statistics() == []
    assert analyses("app_contacts")[0] == 0


def test_rows_a_run_wrote_count_before_the_servers_counters_show_them(env: dict[str, str]) -> None:
    """The server counts a session's changed rows when the session has been idle a while (up to ten seconds), so a
    run that loaded a table and checks at once gives its own count: by the same rule, that alone makes the table
    stale."""
    autovacuum_off(BULK_TABLES)
    with db.engine().connect() as conn:
        threshold = int(conn.execute(text("SHOW autovacuum_analyze_threshold")).scalar_one())
    assert stale_tables() == []  # a new database: the server has counted no change anywhere
    assert stale_tables({"remote_contacts": threshold}) == []  # never analyzed and empty: more than the threshold
    written = {"remote_contacts": threshold + 1, "links": 1, "sync_runs": 10**6}
    assert stale_tables(written) == ["remote_contacts"]  # only bulk tables, and only past the rule

    assert refresh_stale_statistics(written) == ["remote_contacts"]
    assert analyses("remote_contacts")[0] == 1
