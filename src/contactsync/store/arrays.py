"""Many rows in one statement of one fixed text: `INSERT … SELECT … FROM unnest(:col1, :col2, …)`.

A multi-row `INSERT … VALUES (…), (…)` is a new text for every row count, with a parameter per cell. SQLAlchemy
caches its compiled form, but psycopg parses every text longer than its cache takes again, and PostgreSQL plans
it again: a page of 100 mirrored contacts was a 1,200-parameter text parsed and planned anew, on every page and
for every write group's answers. Here a statement has one array parameter per column, whatever the number of
rows, so its text is the same every time: psycopg parses it once, and after a few executions prepares it on the
server, which then skips parsing and planning too.

Rows go in (and take their index entries) in the order given, by the arrays' ordinality, so callers that order
rows to keep two transactions from waiting on each other keep that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ARRAY, JSON, Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeEngine

ORDINAL = "ordinal"
InsertT = TypeVar("InsertT", bound=Insert)


def _array_of(column_type: TypeEngine[Any]) -> ARRAY[Any]:
    """The array type of a column (JSON documents are JSONB here, as their column's PostgreSQL variant). One
    dimension: a JSON document that is a list is one element, not a row of a second dimension."""
    item = JSONB() if isinstance(column_type, JSON) else column_type
    return ARRAY(item, dimensions=1)


def from_rows(stmt: InsertT, rows: Sequence[dict[str, Any]]) -> InsertT:
    """`stmt` (an INSERT built without values, with its ON CONFLICT and RETURNING clauses) for `rows`, all with
    the same keys: `INSERT … SELECT col1, col2, … FROM unnest(:col1, :col2, …) WITH ORDINALITY … ORDER BY
    ordinality`. The rows' values are bound in the statement, one array per column; columns the rows do not
    name take their defaults, as in a plain INSERT (a Python-side default is computed once for the statement)."""
    table = stmt.table
    assert isinstance(table, Table)
    columns = list(rows[0])
    unnested = unnest(table, rows)
    return stmt.from_select(columns, select(*(unnested.c[c] for c in columns)).order_by(unnested.c[ORDINAL]))


def unnest(table: Table, rows: Sequence[dict[str, Any]]) -> Any:
    """`unnest(:col1, :col2, …) WITH ORDINALITY AS rows(col1, col2, …, ordinal)`: the rows (all with the same keys,
    columns of `table`) as a FROM item, one array parameter per column, each typed as its column."""
    columns = list(rows[0])
    arrays = [
        bindparam(f"rows_{c}", [r.get(c) for r in rows], type_=_array_of(table.c[c].type))  # rendered with a cast
        for c in columns
    ]
    return func.unnest(*arrays).table_valued(*columns, with_ordinality=ORDINAL).render_derived(name="rows")


def insert_rows(s: Session, stmt: Insert, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """Run an INSERT for many rows in one statement (`from_rows`), in the order given; returns what it returned.
    `stmt` is built on the table (`table_of(Model)`), so the rows go through Core without ORM bookkeeping."""
    if not rows:
        return []
    return list(s.execute(from_rows(stmt, rows)))
