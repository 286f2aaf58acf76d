"""What a walk noted for its later pages (`providers.base.WalkNotes`), kept in `walk_notes` rows.

A page's notes are written in the transaction that records the page and moves the run's token on, so a walk
resumed after a crash finds exactly the notes of the pages it recorded. A run's notes are dropped when its walk
completes; the notes of a connection's earlier runs (a walk that failed or was cut short) when a new walk records
its first page.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping

from sqlalchemy import String, bindparam, delete, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.engine import Connection as DbConnection
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import any_

from contactsync import db
from contactsync.models import SyncRun, WalkNote
from contactsync.models.base import table_of
from contactsync.store.arrays import from_rows

_t = table_of(WalkNote).c
# One statement text whatever the number of ids (an array parameter each): psycopg parses it once.
_NOTED = select(_t.remote_id).where(
    _t.run_id == bindparam("run_id"),
    _t.name == bindparam("name"),
    _t.remote_id == any_(bindparam("remote_ids", type_=ARRAY(String))),
)


def noted(conn: Session | DbConnection, run_id: int, name: str, ids: Collection[str]) -> set[str]:
    """Which of `ids` the run's recorded pages noted under `name`."""
    if not ids:
        return set()
    return set(conn.execute(_NOTED, {"run_id": run_id, "name": name, "remote_ids": list(ids)}).scalars())


def keep(s: Session, run: SyncRun, notes: Mapping[str, Collection[str]]) -> None:
    """Write a page's notes, in the transaction that records the page (a note kept twice is kept once), as one
    statement of one parameter (`store.arrays`), as the mirror's rows are."""
    rows = [
        {"run_id": run.id, "name": name, "remote_id": remote_id, "connection_id": run.connection_id,
         "tenant_id": run.tenant_id}
        for name, ids in notes.items()
        for remote_id in sorted(ids)
    ]  # fmt: skip
    if rows:
        s.execute(*from_rows(insert(table_of(WalkNote)).on_conflict_do_nothing(), rows))


def forget_walk(s: Session, run_id: int) -> None:
    """The run's walk is complete: nothing reads its notes any more."""
    s.execute(delete(WalkNote).where(WalkNote.run_id == run_id))


def forget_earlier_walks(s: Session, connection_id: int, run_id: int) -> None:
    """A new walk of the connection begins: the notes its earlier runs left (a walk that failed or was cut
    short) are never read again."""
    s.execute(delete(WalkNote).where(WalkNote.connection_id == connection_id, WalkNote.run_id != run_id))


class PageNotes(db.ReadsAside):
    """`providers.base.WalkNotes` for one fetch task: the notes of the pages it fetched are held here until each
    page is recorded (`fetched` hands a page's notes over for its transaction, `recorded` lets them go once that
    committed); those of the pages recorded before are read from the database.

    Pages are fetched one at a time, the next one ahead in a thread while the walk records the last, so `noted`
    sees the notes of every page fetched before the one asking, recorded or not. It reads aside
    (`db.ReadsAside`), as `tasks.fetch` reads the mirror's known records."""

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self._current: dict[str, set[str]] = {}  # the page being fetched (one thread at a time)
        self._unrecorded: list[dict[str, set[str]]] = []  # fetched, not yet committed, oldest first
        self._lock = threading.Lock()

    def note(self, name: str, ids: Iterable[str]) -> None:
        self._current.setdefault(name, set()).update(ids)

    def noted(self, name: str, ids: Collection[str]) -> set[str]:
        wanted = set(ids)
        with self._lock:
            held = [page.get(name, set()) for page in [*self._unrecorded, self._current]]
        found = {remote_id for remote_id in wanted if any(remote_id in page for page in held)}
        rest = wanted - found
        if rest:
            found |= self.read(lambda conn: noted(conn, self.run_id, name, rest))
        return found

    def fetched(self) -> dict[str, set[str]]:
        """The notes of the page just fetched (asked by the thread that fetched it), to keep with it."""
        page, self._current = self._current, {}
        with self._lock:
            self._unrecorded.append(page)
        return page

    def recorded(self, page: dict[str, set[str]]) -> None:
        """The page's transaction committed: its notes are read from the database from now on."""
        with self._lock:
            self._unrecorded = [held for held in self._unrecorded if held is not page]
