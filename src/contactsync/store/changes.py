"""The changes feed: everything the app must apply to keep its tables up to date, in one numbered sequence per
tenant that a reader pages through with a cursor and never sees skip or repeat.

Why a counter row and not a plain sequence: a BIGSERIAL hands out numbers when rows are inserted, but
transactions commit in another order. A reader that has seen 42 (committed) may later find 41 appear (its
transaction committed after), and a cursor at 42 would skip it for ever. Here every change takes its number from
the tenant's `change_counters` row with `UPDATE ... RETURNING` in the same transaction that records it. The row
lock is held to commit, so a second transaction of the same tenant waits for the first to commit or roll back
before it gets the next number: numbers become visible in order, a rolled-back transaction gives its numbers
back, and the feed has no gaps at all. The cost is that a tenant's transactions that record changes commit one
after another; tenants do not wait for each other.

Numbers are taken as late as possible: changes are collected on the session and written just before it commits
(a `before_commit` hook). By then the transaction holds every other lock it will take, so waiting for the counter
cannot close a cycle with another transaction of the tenant (two reconcile tasks that want the same app contact
would otherwise deadlock: one holding the counter and waiting on the other's link insert, the other the reverse).
Inside a savepoint, which may roll back on its own, changes are written at once instead.

Functions here are called from the few places in the pipeline where such a change is decided (one call each),
inside the caller's transaction, so a change is in the feed exactly when what it describes is committed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, bindparam, event, func, insert, or_, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from contactsync.models import AppContact, Change, ChangeCounter, PushTarget, RemoteContact
from contactsync.models.base import table_of
from contactsync.states import ContactStatus
from contactsync.store.arrays import ORDINAL, row_params, rows_subquery

FIELDS_CHANGED = "fields_changed"
PLATFORM_ONLY = "platform_only"
ARCHIVED = "archived"
DELETED = "deleted"
LINKED = "linked"
REMOTE_ID_ASSIGNED = "remote_id_assigned"
UNLINKED = "unlinked"


_PENDING = "contactsync_pending_changes"
_WRITTEN = "contactsync_changes_written"
_PUSH = "contactsync_push_tenants"


def record(s: Session, tenant_id: str, items: Sequence[dict[str, Any]]) -> None:
    """Add changes (dicts with kind, app_id, remote_id, data) to the tenant's feed when the transaction commits."""
    if not items:
        return
    if s.in_nested_transaction():
        if _write(s, tenant_id, items):
            s.info.setdefault(_PUSH, set()).add(tenant_id)
        s.info.setdefault(_WRITTEN, set()).add(tenant_id)
        return
    s.info.setdefault(_PENDING, []).extend((tenant_id, item) for item in items)


def flush(s: Session) -> None:
    """Number and write the session's collected changes now (called before commit)."""
    pending: list[tuple[str, dict[str, Any]]] = s.info.pop(_PENDING, [])
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    for tenant_id, item in pending:
        by_tenant.setdefault(tenant_id, []).append(item)
    for tenant_id in sorted(by_tenant):  # one order for every transaction: counters are locked in tenant order
        if _write(s, tenant_id, by_tenant[tenant_id]):
            s.info.setdefault(_PUSH, set()).add(tenant_id)
    s.info.pop(_WRITTEN, None)


@event.listens_for(Session, "before_commit")
def _before_commit(s: Session) -> None:
    if s.info.get(_PENDING) or s.info.get(_WRITTEN):
        flush(s)


@event.listens_for(Session, "after_commit")
def _after_commit(s: Session) -> None:
    """The app's push targets hear of the committed changes (sent only now, so the delivery finds them)."""
    tenants = s.info.pop(_PUSH, None)
    if tenants:
        from contactsync.tasks.push import request_push  # the Celery app only where pushing is configured

        for tenant_id in sorted(tenants):
            request_push(tenant_id)


@event.listens_for(Session, "after_rollback")
def _after_rollback(s: Session) -> None:
    for key in (_PENDING, _WRITTEN, _PUSH):
        s.info.pop(key, None)


def _write(s: Session, tenant_id: str, items: Sequence[dict[str, Any]]) -> bool:
    """Number the items and insert them; returns whether a push target hears of the tenant's changes.

    One statement for the lot: every write group's commit and every reconciled page records changes, so a round
    trip saved here is saved per group and per page. It takes the counter (created on first use) and its row
    lock, inserts the items numbered from it (sent as one JSON parameter, `store.arrays`: one text whatever
    their number) and asks whether a push target covers the tenant."""
    n = len(items)
    rows = [
        {"kind": i["kind"], "app_id": i.get("app_id"), "remote_id": i.get("remote_id"), "data": i.get("data") or {}}
        for i in items
    ]
    count, push = s.execute(_numbered_insert(), {**row_params(rows), "tenant_id": tenant_id, "n": n}).one()
    assert count == n
    return bool(push)


@functools.cache
def _numbered_insert() -> Any:
    """`_write`'s statement, built once per process (its tenant, count and rows are parameters): building and
    keying it for SQLAlchemy's cache cost more than running it, on every commit that records changes."""
    tenant_id = bindparam("tenant_id", type_=table_of(Change).c.tenant_id.type)
    n = bindparam("n", type_=Integer)
    counter = (
        pg_insert(ChangeCounter)
        .values(tenant_id=tenant_id, last_seq=n)
        .on_conflict_do_update(index_elements=[ChangeCounter.tenant_id], set_={"last_seq": ChangeCounter.last_seq + n})
        .returning(ChangeCounter.last_seq)
        .cte("counter")
    )
    table = table_of(Change)
    rows = rows_subquery(table, ("kind", "app_id", "remote_id", "data"))
    numbered = (
        select(
            tenant_id,
            counter.c.last_seq - n + rows.c[ORDINAL],
            rows.c.kind,
            rows.c.app_id,
            rows.c.remote_id,
            rows.c.data,
            func.now(),  # a statement in a WITH gets no Python-side defaults
        )
        .select_from(counter)
        .join(rows, true())
        .order_by(rows.c[ORDINAL])
    )
    written = (
        insert(table)
        .from_select(["tenant_id", "seq", "kind", "app_id", "remote_id", "data", "created_at"], numbered)
        .returning(table.c.seq)
        .cte("written")
    )
    pushed = (
        select(PushTarget.id).where(or_(PushTarget.tenant_id == tenant_id, PushTarget.tenant_id.is_(None))).exists()
    )
    return select(func.count(), pushed).select_from(written)


def read(s: Session, tenant_id: str, after: int, limit: int) -> list[Change]:
    return list(
        s.scalars(
            select(Change).where(Change.tenant_id == tenant_id, Change.seq > after).order_by(Change.seq).limit(limit)
        )
    )


def _remote_id_of(s: Session, app_contact_id: int) -> str | None:
    from contactsync.models import Link

    return s.scalar(
        select(RemoteContact.remote_id)
        .join(Link, Link.remote_contact_id == RemoteContact.id)
        .where(Link.app_contact_id == app_contact_id)
    )


# --- hooks, one call each from the pipeline -----------------------------------------------------------------


def app_contact_updated(
    s: Session,
    row: AppContact,
    new_content: dict[str, Any],
    remote_id: str | None = None,
    version: int | None = None,
) -> None:
    """Fields the platform changed on a linked app contact (and an archival, said separately). `remote_id`: the
    linked platform contact's id when the caller holds it (else it is looked up). `version` is the contact version
    the change makes: an app that applies the change sends it back as `base_version` with its next edit."""
    old = row.data or {}
    fields = {k: v for k, v in new_content.items() if old.get(k) != v}
    if not fields:
        return
    if remote_id is None:
        remote_id = _remote_id_of(s, row.id)
    items: list[dict[str, Any]] = [
        {
            "kind": FIELDS_CHANGED,
            "app_id": row.app_id,
            "remote_id": remote_id,
            "data": {"fields": fields} if version is None else {"fields": fields, "version": version},
        }
    ]
    if fields.get("status") == ContactStatus.ARCHIVED:
        items.append({"kind": ARCHIVED, "app_id": row.app_id, "remote_id": remote_id, "data": {}})
    record(s, row.tenant_id, items)


def platform_only(s: Session, tenant_id: str, remote: RemoteContact) -> None:
    """A platform contact with no counterpart in the app (nor a candidate): the app may import it."""
    record(s, tenant_id, [platform_only_item(remote)])


def platform_only_item(remote: RemoteContact) -> dict[str, Any]:
    return {"kind": PLATFORM_ONLY, "remote_id": remote.remote_id, "data": {"contact": remote.data}}


def linked_item(app_id: str, remote_id: str, by: str) -> dict[str, Any]:
    """`linked` for a caller that already holds both ids (a reconciled page records its links in one go)."""
    return {"kind": LINKED, "app_id": app_id, "remote_id": remote_id, "data": {"by": by}}


def remote_deleted(s: Session, tenant_id: str, remotes: Sequence[RemoteContact]) -> None:
    """Linked platform contacts that were deleted on the platform."""
    from contactsync.models import Link

    items: list[dict[str, Any]] = []
    for remote in remotes:
        app_id = s.scalar(
            select(AppContact.app_id)
            .join(Link, Link.app_contact_id == AppContact.id)
            .where(Link.remote_contact_id == remote.id)
        )
        items.append({"kind": DELETED, "app_id": app_id, "remote_id": remote.remote_id, "data": {}})
    record(s, tenant_id, items)


def linked(s: Session, tenant_id: str, app_contact_id: int, remote_contact_id: int, by: str) -> None:
    """A link between an app contact and a platform contact was made (by the matcher or a person)."""
    app_id = s.scalar(select(AppContact.app_id).where(AppContact.id == app_contact_id))
    remote_id = s.scalar(select(RemoteContact.remote_id).where(RemoteContact.id == remote_contact_id))
    record(s, tenant_id, [{"kind": LINKED, "app_id": app_id, "remote_id": remote_id, "data": {"by": by}}])


def remote_id_assigned(s: Session, tenant_id: str, app_contact_id: int, remote_id: str) -> None:
    """An app contact contactsync created on the platform now has the platform's id."""
    app = s.get(AppContact, app_contact_id)  # its writer has loaded it already: no query
    app_id = app.app_id if app is not None else None
    record(s, tenant_id, [{"kind": REMOTE_ID_ASSIGNED, "app_id": app_id, "remote_id": remote_id, "data": {}}])


def unlinked(s: Session, tenant_id: str, pairs: Sequence[tuple[int, int]], by: str) -> None:
    """Links undone (a person kept a pair apart, or the matcher decided again): the app drops the remote id it
    was given for each (app contact id, remote contact id) pair."""
    items: list[dict[str, Any]] = []
    for app_contact_id, remote_contact_id in pairs:
        app_id = s.scalar(select(AppContact.app_id).where(AppContact.id == app_contact_id))
        remote_id = s.scalar(select(RemoteContact.remote_id).where(RemoteContact.id == remote_contact_id))
        items.append({"kind": UNLINKED, "app_id": app_id, "remote_id": remote_id, "data": {"by": by}})
    if items:
        record(s, tenant_id, items)
