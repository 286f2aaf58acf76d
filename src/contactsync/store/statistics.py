"""Planner statistics for the tables a sync fills in bulk.

PostgreSQL plans every statement from what ANALYZE last saw. Tables the migrations create empty and a tenant's
first sync then fills have no statistics until autovacuum analyzes them, and where autovacuum is off or has not
come round yet the planner takes a table of thousands of rows for a few pages. Measured on 4 tenants of 5,000
contacts: the walk's look-up of a page's mirrored rows then read the connection's whole mirror through the
connection index (about 50 ms a page instead of about 1 ms), and the first incremental run after the full syncs
spent 3.5 times the database time (5.6 s instead of 1.6 s). PostgreSQL's own advice after a bulk load is to run
ANALYZE. This does so when a run's walk or the run ends, by autovacuum's own rule and settings, so that where
autovacuum keeps up there is usually nothing left to do.

The server's counters of changed rows lag: a backend reports its counts when a transaction ends at least a
second after its last report, else once it has been idle for ten seconds. A run that loads a table and reaches
the check within those seconds (a small or fast one) would find its own load uncounted, and nothing would analyze
the table until some later run. So the caller also says how many rows its run wrote to each table, and a table
counts as changed by the larger of the two figures.

Maintenance is never worth a run: a table another session is analyzing (autovacuum, another worker) is skipped
after a short lock wait, and a failure is logged and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from contactsync import db
from contactsync.logs import get_logger
from contactsync.settings import get_settings

log = get_logger(__name__)

# The tables one sync inserts into or rewrites by the thousand. Names from here only are put in ANALYZE.
BULK_TABLES = ("app_contacts", "contact_keys", "links", "remote_contacts", "write_ops")

# Autovacuum's rule (threshold + scale factor x rows at the last analysis), with the server's own settings; the
# rows changed are the server's count or the caller's, whichever is larger (see above).
_STALE = text(
    """
    SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    LEFT JOIN unnest(CAST(:written_tables AS text[]), CAST(:written_rows AS bigint[])) AS w(relname, rows)
      ON w.relname = s.relname
    WHERE s.schemaname = current_schema() AND s.relname = ANY(:tables)
      AND greatest(s.n_mod_since_analyze, coalesce(w.rows, 0))
          > current_setting('autovacuum_analyze_threshold')::float8
          + current_setting('autovacuum_analyze_scale_factor')::float8 * greatest(c.reltuples, 0)
    ORDER BY s.relname
    """
)

# How long an ANALYZE waits for a table another session is analyzing before it leaves the table to that one.
LOCK_WAIT = "200ms"


def stale_tables(written: Mapping[str, int] | None = None) -> list[str]:
    """The bulk tables whose changes since their last analysis are as many as autovacuum waits for. `written`: the
    rows the caller's run wrote to a table, which the server may not count yet."""
    written = {table: rows for table, rows in (written or {}).items() if table in BULK_TABLES and rows > 0}
    params = {"tables": list(BULK_TABLES), "written_tables": list(written), "written_rows": list(written.values())}
    with db.engine().connect() as conn:
        return [str(name) for name in conn.execute(_STALE, params).scalars()]


def refresh_stale_statistics(written: Mapping[str, int] | None = None) -> list[str]:
    """ANALYZE each stale bulk table (each in its own short transaction); returns the tables analyzed. `written`
    as for `stale_tables`."""
    if not get_settings().analyze_after_runs:
        return []
    analyzed: list[str] = []
    try:
        stale = stale_tables(written)
    except SQLAlchemyError as exc:
        log.warning("planner statistics not checked", error=_first_line(exc))
        return analyzed
    for table in stale:
        if table not in BULK_TABLES:  # never a name from elsewhere in a statement
            continue
        try:
            with db.engine().begin() as conn:
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
                conn.execute(text(f'ANALYZE "{table}"'))
            analyzed.append(table)
        except SQLAlchemyError as exc:  # busy with another session's ANALYZE, or the server away: the next end tries
            log.info("table not analyzed", table=table, error=_first_line(exc))
    if analyzed:
        log.info("planner statistics refreshed", tables=analyzed)
    return analyzed


def _first_line(exc: SQLAlchemyError) -> str:
    """The server's message without the statement and background link SQLAlchemy appends."""
    return str(exc).strip().splitlines()[0]
