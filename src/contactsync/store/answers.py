"""Recording what the platform answered to ledger entries: the contacts mirrored, a create's link, each entry
closed. A write group's answers are recorded together (`record_answers`); planning is `store.ledger`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from contactsync.contact import SYNCED_FIELDS, CanonicalContact, content_digest
from contactsync.models import AppContact, Connection, Link, RemoteContact, WriteOp, WriteState
from contactsync.models.base import table_of, utcnow
from contactsync.providers.registry import carried_view
from contactsync.store import changes as feed
from contactsync.store.arrays import from_columns, row_params
from contactsync.store.ledger import mark_synced
from contactsync.store.mirror import Mirrored, mirror_written
from contactsync.store.write_states import move_write, save_writes
from contactsync.sync.planning import FieldBaseline, LinkBasis, baseline_of, digests


def record_created(s: Session, op: WriteOp, contact: CanonicalContact, *, adopted: bool) -> None:
    """The platform holds the contact now (created, or found after a lost answer): mirror it and link it."""
    record_answers(s, [Answer(op, contact, adopted)])


@dataclass(frozen=True)
class Answer:
    """What the platform answered to one ledger entry (`adopted`: a lost create's echo, found by a look-up)."""

    op: WriteOp
    contact: CanonicalContact
    adopted: bool = False


def record_answers(s: Session, answers: Sequence[Answer]) -> None:
    """Record what the platform answered to a group of entries: the returned contacts mirrored in one statement,
    a create's links inserted in one more, each entry closed.

    A create's link is confirmed (it is our own create), and its baseline is what was sent: an app edit made
    while the create was under way shows as a change and goes out with the next run.
    """
    remotes: dict[tuple[int, str], Mirrored] = {}
    for connection_id in sorted({a.op.connection_id for a in answers}):
        tenant_id = next(a.op.tenant_id for a in answers if a.op.connection_id == connection_id)
        written = [a.contact for a in answers if a.op.connection_id == connection_id]
        for remote_id, row in mirror_written(s, tenant_id, connection_id, written).items():
            remotes[(connection_id, remote_id)] = row
    # The updated pairs' links in one query: read one by one, each read also flushed the link changed before it.
    updated = sorted({a.op.app_contact_id for a in answers if a.op.kind != "create"})
    pairs = (
        {link.app_contact_id: link for link in s.scalars(select(Link).where(Link.app_contact_id.in_(updated)))}
        if updated
        else {}
    )
    links: list[dict[str, Any]] = []
    for answer in answers:
        op = answer.op
        assert answer.contact.remote_id is not None
        remote = remotes[(op.connection_id, answer.contact.remote_id)]
        if op.kind == "create":
            links.append(_created_link(s, answer, remote))
            feed.remote_id_assigned(s, op.tenant_id, op.app_contact_id, remote.remote_id)
        else:
            _mark_updated(s, answer, remote, pairs.get(op.app_contact_id))
        _close(op, remote.remote_id)
    save_writes(s, [a.op for a in answers])
    if links:
        # In app contact order, as reconcile inserts a page's links: two transactions cannot wait on each other.
        links.sort(key=lambda row: int(row["app_contact_id"]))
        s.execute(_link_insert(tuple(links[0])), row_params(links))


@functools.cache
def _link_insert(columns: tuple[str, ...]) -> Any:
    """The created links' insert over one JSON parameter of rows (`store.arrays`), built once per process."""
    link = table_of(Link)
    return from_columns(pg_insert(link).on_conflict_do_nothing(), columns)


def _created_link(s: Session, answer: Answer, remote: Mirrored) -> dict[str, Any]:
    op, adopted = answer.op, answer.adopted
    app = s.get(AppContact, op.app_contact_id)
    assert app is not None
    contact = CanonicalContact.model_validate(op.payload)
    sent = contact.content()
    dialect = _dialect(s, op.connection_id)
    return {
        "tenant_id": op.tenant_id,
        "app_contact_id": app.id,
        "remote_contact_id": remote.id,
        "method": "created",
        "basis": LinkBasis.CREATED,
        "score": 1.0,
        "explanation": {"adopted_after_lost_response": adopted},
        "decided_by": "writer",
        "app_synced_hash": content_digest(sent),
        "remote_synced_hash": remote.content_hash,
        # The version the create sent, not the app's now: an edit made while the create was under way, even one
        # undone before the answer, is then later than the link.
        # A create's answer is the platform side's whole baseline (a lost create's echo was found by a read).
        "baseline": baseline_of(carried_view(dialect, contact), remote.data, op.sent_app_version(app))
        .answered_by(SYNCED_FIELDS, None if adopted else answer.contact.remote_updated_at)
        .to_json(),
    }


def record_updated(s: Session, op: WriteOp, contact: CanonicalContact) -> None:
    record_answers(s, [Answer(op, contact)])


def _mark_updated(s: Session, answer: Answer, remote: Mirrored, link: Link | None) -> None:
    """An update's answer: the pair is synced as the plan saw it, plus what was written.

    Not as the rows are now: the answer may come long after the plan (a retry, a worker killed and its batch
    redelivered), and an app edit made in between, or a platform edit the answer already shows, would otherwise
    be taken as synced and never travel. The baseline keeps the plan's digests for every field the update did
    not write, so such an edit shows as a change of that side at the next run; the written fields are the
    answer's (`FieldBaseline.answered`).
    """
    op = answer.op
    app = s.get(AppContact, op.app_contact_id)
    if link is None or app is None:
        return
    base = op.payload.get("base")
    if not isinstance(base, dict):  # an entry planned before plans kept their base
        row = s.get(RemoteContact, remote.id)
        assert row is not None
        mark_synced(link, app, row, _dialect(s, op.connection_id))
        return
    written = set(op.payload["changes"])
    answered = digests(remote.data)
    remote_base = {name: answered[name] if name in written else d for name, d in base["remote"].items()}
    link.app_synced_hash = str(base["app_hash"])
    link.remote_synced_hash = remote.content_hash if remote_base == answered else str(base["remote_hash"])
    version = base.get("app_version")
    link.baseline = (
        FieldBaseline(
            app=dict(base["app"]), remote=remote_base, app_version=int(version) if version is not None else None
        )
        .answered_by(written, answer.contact.remote_updated_at)
        .to_json()
    )
    link.updated_at = utcnow()


def _dialect(s: Session, connection_id: int) -> str:
    conn = s.get(Connection, connection_id)
    return conn.dialect if conn is not None else "merge"


def _close(op: WriteOp, remote_id: str) -> None:
    move_write(op, WriteState.DONE)
    op.remote_id = remote_id
    op.last_error = None
