"""The mirror of remote contacts: a fetched page upserted, a write's answers recorded, the unseen marked deleted.

A mirrored row is what contactsync last saw on the platform; the content hash it keeps is what tells a re-read
contact that nothing changed (see `upsert_remote_contacts`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Integer, String, any_, bindparam, exists, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection as DbConnection
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from contactsync.contact import CanonicalContact, content_digest
from contactsync.models import Link, RemoteContact, RunPage
from contactsync.models.base import table_of, utcnow
from contactsync.providers.records import raw_digest
from contactsync.store.arrays import from_columns, insert_rows, row_params

_t = table_of(RemoteContact).c
# The page's ids travel as one array parameter (`= ANY`), not a parameter each (`IN`): a text of a hundred
# placeholders is converted by psycopg on every execution, which cost twice the CPU of the whole look-up.
_PAGE_IDS = bindparam("remote_ids", type_=ARRAY(String))
_KNOWN = select(_t.id, _t.remote_id, _t.raw_digest, _t.needs_reconcile).where(
    _t.connection_id == bindparam("connection_id"), _t.remote_id == any_(_PAGE_IDS), _t.raw_digest.is_not(None)
)
_STORED = select(
    _t.id, _t.remote_id, _t.content_hash, _t.raw_digest, _t.deleted, _t.remote_updated_at, _t.modified_at,
    _t.needs_reconcile,
).where(_t.connection_id == bindparam("connection_id"), _t.remote_id == any_(_PAGE_IDS))  # fmt: skip


def _remote_row(tenant_id: str, connection_id: int, c: CanonicalContact) -> dict[str, Any]:
    data = c.content()
    return {
        "tenant_id": tenant_id,
        "connection_id": connection_id,
        "remote_id": c.remote_id,
        "name": c.name,
        "data": data,
        "raw": c.raw,
        "raw_digest": raw_digest(c.raw) if c.raw is not None else None,
        "content_hash": content_digest(data),
        "deleted": c.deleted,
        "remote_updated_at": c.remote_updated_at,
        "modified_at": c.modified_at,
        "needs_reconcile": True,
        "last_seen_at": utcnow(),
    }


def _mirror_update(ex: Any, needs_reconcile: Any) -> dict[str, Any]:
    """What a mirror upsert overwrites on conflict (a fetched page and a write's answer alike); the platform's
    modification time only ever moves forward."""
    return {
        "name": ex.name,
        "data": ex.data,
        "raw": ex.raw,
        "raw_digest": ex.raw_digest,
        "content_hash": ex.content_hash,
        "deleted": ex.deleted,
        "remote_updated_at": ex.remote_updated_at,
        "modified_at": func.greatest(RemoteContact.modified_at, ex.modified_at),
        "needs_reconcile": needs_reconcile,
        "last_seen_at": ex.last_seen_at,
    }


@dataclass(frozen=True)
class Known:
    """A mirrored row that holds what its platform record maps to (`known_records`): what recording that record
    again needs of it."""

    id: int
    needs_reconcile: bool


def known_records(s: Session | DbConnection, connection_id: int, digests: Mapping[str, str]) -> dict[str, Known]:
    """Of a page's records ({remote id: raw digest}), the rows mapped from that very record, by remote id
    (`providers.base.KnownRecords` answers their ids)."""
    rows = s.execute(_KNOWN, {"connection_id": connection_id, "remote_ids": list(digests)})
    return {r.remote_id: Known(r.id, r.needs_reconcile) for r in rows if digests.get(r.remote_id) == r.raw_digest}


def holds_records(s: Session, connection_id: int) -> bool:
    """Whether any mirrored row of the connection keeps the record it was mapped from (`known_records` can find
    something at all)."""
    return bool(s.scalar(select(exists().where(_t.connection_id == connection_id, _t.raw_digest.is_not(None)))))


class MirroredPage(NamedTuple):
    """What mirroring a fetched page did."""

    ids: list[int]  # the page's rows, in page order (the `unchanged` records, which the walk did not map, last)
    pending: int  # rows that need reconciling
    written: int  # rows inserted or rewritten: the rest were as the page has them


def upsert_remote_contacts(
    s: Session,
    tenant_id: str,
    connection_id: int,
    contacts: Sequence[CanonicalContact],
    unchanged: Mapping[str, Known] | None = None,
) -> MirroredPage:
    """Mirror a fetched page. `unchanged`: the page's records the walk did not map because their rows were
    mapped from the same records, as `known_records` found them; they are as mirrored and not read again. (A
    row that started waiting for a reconcile since is still reconciled: planning picks up every row left
    waiting.)

    The page's mirrored rows are read first (one SELECT of their hashes, deletion and times, no ORM objects).
    A record whose hash, record digest, deletion, platform edit time and modification time are all as mirrored
    is not written at all: most of an incremental walk is such rows (the overlap of windows, and the contacts
    our own writes created or updated, which were mirrored from the write's answer), and the first incremental
    run after a full sync re-reads every contact that sync created. Only new and differing records go to the
    upsert, whose conflict clause checks the same conditions again against the row as it is then, so nothing a
    concurrent writer committed meanwhile is overwritten with a page that agrees with it. One still waiting for
    a reconcile (its run died) is counted, like one that changed.
    """
    unchanged = unchanged or {}
    rows = []
    seen: set[str] = set(unchanged)
    for c in contacts:
        if c.remote_id is None or c.remote_id in seen:
            continue
        seen.add(c.remote_id)
        rows.append(_remote_row(tenant_id, connection_id, c))
    if not rows and not unchanged:
        return MirroredPage([], 0, 0)
    t = _t
    page_ids = [r["remote_id"] for r in rows]
    stored = (
        {r.remote_id: r for r in s.execute(_STORED, {"connection_id": connection_id, "remote_ids": page_ids})}
        if rows
        else {}
    )
    by_remote = {r["remote_id"]: r for r in rows}
    ids = {remote_id: r.id for remote_id, r in stored.items() if _as_mirrored(r, by_remote[remote_id])}
    pending = sum(1 for remote_id in ids if stored[remote_id].needs_reconcile)
    ids.update((remote_id, known.id) for remote_id, known in unchanged.items())
    pending += sum(1 for known in unchanged.values() if known.needs_reconcile)
    todo = [r for r in rows if r["remote_id"] not in ids]
    written_count = 0
    if todo:
        insert_stmt = pg_insert(table_of(RemoteContact))
        ex = insert_stmt.excluded
        changed_expr = t.content_hash != ex.content_hash
        stmt = insert_stmt.on_conflict_do_update(
            index_elements=[t.connection_id, t.remote_id],
            set_=_mirror_update(ex, t.needs_reconcile | changed_expr),
            where=or_(
                changed_expr,
                t.raw_digest.is_distinct_from(ex.raw_digest),
                t.deleted.is_distinct_from(ex.deleted),
                t.remote_updated_at.is_distinct_from(ex.remote_updated_at),
                func.greatest(t.modified_at, ex.modified_at).is_distinct_from(t.modified_at),
            ),
        ).returning(t.id, t.remote_id, t.needs_reconcile)
        written = insert_rows(s, stmt, todo)
        written_count = len(written)
        for r in written:
            ids[r.remote_id] = r.id
        pending += sum(1 for r in written if r.needs_reconcile)
        late = [r["remote_id"] for r in todo if r["remote_id"] not in ids]
        if late:
            # Left alone by the conflict clause: a concurrent writer committed what the page says between the read
            # above and the upsert (row-locked by the clause, so this read sees the row as it is).
            for r in s.execute(_STORED, {"connection_id": connection_id, "remote_ids": late}):
                ids[r.remote_id] = r.id
                pending += 1 if r.needs_reconcile else 0
    row_ids = [*(ids[r["remote_id"]] for r in rows), *(known.id for known in unchanged.values())]
    return MirroredPage(row_ids, pending, written_count)


def _as_mirrored(stored: Any, row: dict[str, Any]) -> bool:
    """Whether a fetched record is as its mirrored row is: the upsert's conflict clause, in Python. A time
    without a zone is not compared here (the upsert decides)."""
    page_time, mirrored_time = row["modified_at"], stored.modified_at
    if any(x is not None and x.tzinfo is None for x in (page_time, row["remote_updated_at"])):
        return False
    newer = page_time is not None and (mirrored_time is None or page_time > mirrored_time)
    return (
        stored.content_hash == row["content_hash"]
        and stored.raw_digest == row["raw_digest"]
        and stored.deleted == row["deleted"]
        and stored.remote_updated_at == row["remote_updated_at"]
        and not newer
    )


@dataclass(frozen=True)
class Mirrored:
    """A write's answer as the mirror now holds it: the row's id and what the answer wrote (the upsert below
    overwrites these columns whatever the row held, so they need not be read back)."""

    id: int
    remote_id: str
    content_hash: str
    data: dict[str, Any]


def mirror_written(
    s: Session, tenant_id: str, connection_id: int, contacts: Sequence[CanonicalContact]
) -> dict[str, Mirrored]:
    """Mirror the contacts a group of writes got back, in one statement; returns the rows by remote id.

    Every answer a write task records pays for this: each row is inserted or overwritten with the answer, never
    left waiting for a reconcile. Unlike a fetched page's upsert it always writes (the writer's answer is the
    newest word on the contact); the platform's modification time only ever moves forward. A contact answered
    twice is written once, as last answered. Only the row ids come back: no ORM object, no document decoded again
    (a group's answers are recorded once per write group, and that was most of what recording one cost).
    """
    rows = {
        c.remote_id: {**_remote_row(tenant_id, connection_id, c), "needs_reconcile": False}
        for c in contacts
        if c.remote_id is not None
    }
    if not rows:
        return {}
    ordered = [rows[k] for k in sorted(rows)]  # in remote id order, as before
    ids: dict[str, int] = {r[0]: r[1] for r in s.execute(_written_upsert(tuple(ordered[0])), row_params(ordered))}
    return {
        remote_id: Mirrored(ids[remote_id], remote_id, row["content_hash"], row["data"])
        for remote_id, row in rows.items()
    }


@functools.cache
def _written_upsert(columns: tuple[str, ...]) -> Any:
    """The answers' upsert over one JSON parameter of rows (see `store.arrays`), built once per process: building
    and keying the statement cost more than running it."""
    table = table_of(RemoteContact)
    insert_stmt = from_columns(pg_insert(table), columns)
    return insert_stmt.on_conflict_do_update(
        index_elements=[table.c.connection_id, table.c.remote_id], set_=_mirror_update(insert_stmt.excluded, False)
    ).returning(table.c.remote_id, table.c.id)


def mark_unseen_deleted(
    s: Session, tenant_id: str, connection_id: int, run_id: int, *, created_since: datetime | None = None
) -> int:
    """After a *complete* full walk, mark mirrored contacts it did not return as deleted (soft: rows stay).

    Only ever called from the transaction that records a full walk's last page, so a walk that failed half-way
    can never turn "not seen yet" into "deleted". Contacts we created ourselves at or after `created_since` are
    not judged by this walk: the platform may not list them yet (its visibility lag).
    """
    conditions = [RemoteContact.id.not_in(walked(run_id))]
    if created_since is not None:
        ours = aliased(RemoteContact)
        too_fresh = (
            select(ours.id)
            .join(Link, Link.remote_contact_id == ours.id)
            .where(Link.tenant_id == tenant_id, Link.method == "created", ours.first_seen_at >= created_since)
        )
        conditions.append(RemoteContact.id.not_in(too_fresh))
    return mark_live_deleted(s, tenant_id, connection_id, *conditions)


def walked(run_id: int) -> Select[Any]:
    """The mirror row ids a run's recorded pages hold."""
    return select(func.jsonb_array_elements_text(RunPage.remote_contact_ids).cast(Integer)).where(
        RunPage.run_id == run_id
    )


def live(tenant_id: str, connection_id: int) -> tuple[ColumnElement[bool], ...]:
    """The conditions of a connection's mirrored contacts that are not deleted on the platform."""
    return (
        RemoteContact.tenant_id == tenant_id,
        RemoteContact.connection_id == connection_id,
        RemoteContact.deleted.is_(False),
    )


def mark_live_deleted(s: Session, tenant_id: str, connection_id: int, *where: ColumnElement[bool]) -> int:
    """Mark the connection's live mirrored rows that meet `where` deleted on the platform (content and hash
    included) and queue them for reconcile; how many."""
    rows = s.scalars(select(RemoteContact).where(*live(tenant_id, connection_id), *where)).all()
    for row in rows:
        contact = CanonicalContact.model_validate({**row.data, "deleted": True})
        row.data, row.content_hash, row.deleted = contact.content(), contact.content_hash(), True
        row.raw_digest = None  # no longer what `raw` maps to: the record is mapped again when next listed
        row.needs_reconcile = True
    return len(rows)
