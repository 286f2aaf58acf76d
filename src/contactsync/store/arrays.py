"""Many rows in one statement of one fixed text: `INSERT … SELECT … FROM jsonb_array_elements(:rows)`.

A multi-row `INSERT … VALUES (…), (…)` is a new text for every row count, with a parameter per cell. SQLAlchemy
caches its compiled form, but psycopg parses every text longer than its cache takes again, and PostgreSQL parses
and plans it again: a page of 100 mirrored contacts was a 1,300-parameter text parsed and planned anew, on every
page and for every write group's answers. Here the rows travel as one parameter, a JSON array of rows (one
dump, `jsontext.dumps`), and the statement unpacks it with a typed cast per column. Its text is the same whatever
the number of rows, so psycopg parses it once, and after a few executions prepares it on the server, which then
skips parsing and planning too. (An array parameter per column, `unnest(:col1, :col2, …)`, was measured first:
psycopg's dumping of Python lists into array literals cost twice what the cached text saved.)

Rows go in (and take their index entries) in the order given, so callers that order rows to keep two
transactions from waiting on each other keep that order.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import JSON, Table, Text, bindparam, cast, column, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from contactsync import jsontext

ORDINAL = "ordinal"
InsertT = TypeVar("InsertT", bound=Insert)


def _plain(value: Any) -> str:
    """JSON for what `json` does not know: times as ISO 8601 with their offset, which PostgreSQL casts back."""
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be sent as a row value")


def from_rows(stmt: InsertT, rows: Sequence[dict[str, Any]]) -> tuple[InsertT, dict[str, str]]:
    """`stmt` (an INSERT built without values, with its ON CONFLICT and RETURNING clauses) for `rows`, all with
    the same keys, in their order, and the parameters to execute it with. Columns the rows do not name take
    their defaults, as in a plain INSERT (a Python-side default is computed once for the statement)."""
    return from_columns(stmt, tuple(rows[0])), row_params(rows)


def from_columns(stmt: InsertT, columns: tuple[str, ...]) -> InsertT:
    """`from_rows`' statement alone, for rows with these keys: a caller that keeps it (built once per process)
    executes it with `row_params` of its rows."""
    table = stmt.table
    assert isinstance(table, Table)
    unpacked = rows_subquery(table, columns)
    query = select(*(unpacked.c[c] for c in columns)).order_by(unpacked.c[ORDINAL])
    return stmt.from_select(columns, query)


def rows_of(table: Table, rows: Sequence[dict[str, Any]]) -> tuple[Any, dict[str, str]]:
    """The rows (all with the same keys, columns of `table`) as a subquery with a column of each name, typed as
    the table's, and `ordinal` (1, 2, …: their order), and the parameters that carry them."""
    return rows_subquery(table, tuple(rows[0])), row_params(rows)


def row_params(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    columns = list(rows[0])
    return {"rows": jsontext.dumps([[r.get(c) for c in columns] for r in rows], default=_plain)}


@functools.lru_cache(maxsize=64)
def rows_subquery(table: Table, columns: tuple[str, ...]) -> Any:
    """`rows_of`' subquery alone, for rows with these keys (executed with `row_params`). Built once per table and
    column list (building it is most of the cost of a small insert). A JSON
    document column keeps a None as JSON null, as an INSERT of the value does; any other column takes it as
    NULL."""
    elements = (
        func.jsonb_array_elements(cast(bindparam("rows", type_=Text), JSONB))
        .table_valued(column("cells", JSONB), with_ordinality=ORDINAL)
        .render_derived(name="elements")
    )
    values = []
    for i, name in enumerate(columns):
        kind = table.c[name].type
        at: ColumnElement[Any] = literal_column(str(i))  # a literal: the text stays the same
        if isinstance(kind, JSON):
            values.append(elements.c.cells.op("->", return_type=JSONB)(at).label(name))
        else:
            values.append(cast(elements.c.cells.op("->>", return_type=Text)(at), kind).label(name))
    return select(*values, elements.c[ORDINAL]).subquery("rows")


def insert_rows(s: Session, stmt: Insert, rows: Sequence[dict[str, Any]]) -> list[Any]:
    """Run an INSERT for many rows in one statement (`from_rows`), in the order given; returns what it returned.
    `stmt` is built on the table (`table_of(Model)`), so the rows go through Core without ORM bookkeeping."""
    if not rows:
        return []
    query, params = from_rows(stmt, rows)
    return list(s.execute(query, params))


def save_loaded(s: Session, objects: Sequence[Any], names: tuple[str, ...], table: Table) -> None:
    """Write the columns `names` of loaded ORM objects (rows of `table`, keyed by `id`) in one `UPDATE … FROM` the
    rows of one parameter, in the caller's transaction, instead of the ORM's UPDATE and bookkeeping per object.
    Afterwards those columns are clean in the session, so a later flush writes only what else changed."""
    unique = list({o.id: o for o in objects}.values())  # an object listed twice is one row to update
    if not unique:
        return
    rows = [{"id": o.id, **{name: getattr(o, name) for name in names}} for o in unique]
    with s.no_autoflush:  # else the ORM would write the same rows first, one UPDATE each
        s.execute(_update_from_rows(table, names), row_params(rows))
    for o in unique:
        for name in names:
            set_committed_value(o, name, getattr(o, name))


@functools.lru_cache(maxsize=16)
def _update_from_rows(table: Table, names: tuple[str, ...]) -> Any:
    """`save_loaded`'s statement, built once per process for each table and column list."""
    rows = rows_subquery(table, ("id", *names))
    return update(table).where(table.c.id == rows.c.id).values({name: rows.c[name] for name in names})
