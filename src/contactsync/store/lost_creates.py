"""Creates whose answer was lost: recognising their echo, re-checking them, and deciding when to send again.

A create that may have reached the platform (`in_flight` after a dead worker, `uncertain`, `parked`) is resolved
only by evidence: its echo turns up in a walk (reconcile calls `link_echoes` before the matcher) or in a look-up
(the write task calls `echo_among`), or a completed walk proves its absence (`sync.evidence`), and only then is
it sent again. Until then it waits parked, outside any run, and every run re-checks it (`recheck_parked`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from contactsync.contact import CanonicalContact
from contactsync.models import MAYBE_SENT_STATES, AppContact, Connection, Link, RemoteContact, SyncRun, WriteOp
from contactsync.models import WriteState as W
from contactsync.models.base import utcnow
from contactsync.providers.registry import carried_content, options_of
from contactsync.settings import get_settings
from contactsync.store import changes
from contactsync.store.write_states import move_write
from contactsync.sync.echo import first_echo
from contactsync.sync.evidence import Walk, absence_proven, window_start
from contactsync.sync.planning import LinkBasis, baseline_of


def visibility_lag(conn: Connection) -> timedelta:
    """The connection's option, else the dialect's setting, else the general setting."""
    settings = get_settings()
    default = settings.visibility_lag_by_dialect.get(conn.dialect, settings.visibility_lag_seconds)
    asked = options_of(conn.dialect, conn.options).visibility_lag_seconds
    return timedelta(seconds=default if asked is None else asked)


def clock_margin(conn: Connection) -> timedelta:
    """How far before the first send a walk must reach: the look-back, which already bounds clock skew (and how
    far an incremental walk reaches back behind the watermark)."""
    asked = options_of(conn.dialect, conn.options).lookback_seconds
    return timedelta(seconds=get_settings().lookback_seconds if asked is None else asked)


def _sent_view(dialect: str, payload: dict[str, object]) -> dict[str, object]:
    return carried_content(dialect, payload)


def _maybe_sent_creates(s: Session, connection_id: int) -> list[WriteOp]:
    return list(
        s.scalars(
            select(WriteOp)
            .where(
                WriteOp.connection_id == connection_id,
                WriteOp.kind == "create",
                WriteOp.status.in_(MAYBE_SENT_STATES),
            )
            .order_by(WriteOp.id)
        )
    )


def echo_among(s: Session, op: WriteOp, dialect: str, found: Iterable[CanonicalContact]) -> CanonicalContact | None:
    """The true echo of `op` among contacts a look-up returned, unless another app contact already holds it."""
    by_id = {c.remote_id: c for c in found if c.remote_id}
    taken = set(
        s.scalars(
            select(RemoteContact.remote_id)
            .join(Link, Link.remote_contact_id == RemoteContact.id)
            .where(
                RemoteContact.connection_id == op.connection_id,
                RemoteContact.remote_id.in_(list(by_id)),
                Link.app_contact_id != op.app_contact_id,
            )
        )
    )
    candidates = [
        (rid, carried_content(dialect, c.content()), c.deleted) for rid, c in by_id.items() if rid not in taken
    ]
    chosen = first_echo(_sent_view(dialect, op.payload), candidates)
    return by_id[chosen] if chosen is not None else None


def link_echoes(s: Session, tenant_id: str, remotes: Sequence[RemoteContact], dialect: str) -> set[int]:
    """Link fetched contacts that are echoes of creates that may have been sent; close those ledger entries.

    Returns the ids of the remote contacts linked, which the matcher then leaves alone.
    """
    if not remotes:
        return set()
    ops = _maybe_sent_creates(s, remotes[0].connection_id)
    if not ops:
        return set()
    linked: set[int] = set()
    for op in ops:
        free = [r for r in remotes if r.id not in linked and not r.deleted]
        candidates = [(f"{r.id:020d}", carried_content(dialect, r.data), r.deleted) for r in free]
        chosen = first_echo(_sent_view(dialect, op.payload), candidates)
        if chosen is None:
            continue
        remote = next(r for r in free if r.id == int(chosen))
        if _link_created(s, tenant_id, op, remote, via="walk"):
            linked.add(remote.id)
    return linked


def _link_created(s: Session, tenant_id: str, op: WriteOp, remote: RemoteContact, *, via: str) -> bool:
    app = s.get(AppContact, op.app_contact_id)
    conn = s.get(Connection, op.connection_id)
    if app is None or conn is None:
        return False
    # Confirmed like a create whose answer arrived: it is our own record; the baseline is what was sent.
    sent = CanonicalContact.model_validate(op.payload)
    dialect = conn.dialect
    inserted = s.execute(
        pg_insert(Link)
        .values(
            tenant_id=tenant_id,
            app_contact_id=app.id,
            remote_contact_id=remote.id,
            method="created",
            basis=LinkBasis.CREATED,
            score=1.0,
            explanation={"adopted_after_lost_response": True, "found_by": via},
            decided_by="writer",
            app_synced_hash=app.content_hash if app.data == op.payload else None,
            remote_synced_hash=remote.content_hash,
            baseline=baseline_of(
                carried_content(dialect, sent.content()), remote.data, op.sent_app_version(app)
            ).to_json(),
        )
        .on_conflict_do_nothing()
        .returning(Link.id)
    ).scalar()
    held = s.scalar(select(Link.remote_contact_id).where(Link.app_contact_id == app.id))
    if inserted is None and held != remote.id:
        return False
    move_write(op, W.DONE)
    op.remote_id, op.last_error = remote.remote_id, None
    if inserted is not None:  # the app learns the platform's id as for a create whose answer arrived
        changes.remote_id_assigned(s, tenant_id, app.id, remote.remote_id)
    if op.run_id is not None:
        s.execute(update(SyncRun).where(SyncRun.id == op.run_id).values(created_remote=SyncRun.created_remote + 1))
    return True


def recheck_parked(
    s: Session, run: SyncRun, conn: Connection, in_review: frozenset[int] = frozenset()
) -> tuple[list[int], int]:
    """After the run's walk: re-check every create that may have been sent and is still open.

    An entry whose app contact got linked or deleted meanwhile is closed; one whose absence this walk proves is
    made `pending` (sent again, with the same Idempotency-Key) unless its app contact is `in_review` (a person
    may still link it, perhaps to the very copy the platform made); the rest are looked up again (`uncertain`).
    All are moved into this run, which counts them. Returns (ids to dispatch, entries to be sent again).
    """
    walk = Walk(
        started_at=run.started_at,
        modified_after=run.window_after if run.kind == "incremental" else None,
        modified_before=run.window_before,
    )
    lag, margin = visibility_lag(conn), clock_margin(conn)
    todo: list[int] = []
    resend = 0
    for op in _maybe_sent_creates(s, conn.id):
        if op.status == W.IN_FLIGHT:
            continue  # a worker holds it, or a dead worker's entry the write task turns uncertain itself
        app = s.get(AppContact, op.app_contact_id)
        linked = s.scalar(select(func.count()).select_from(Link).where(Link.app_contact_id == op.app_contact_id))
        if app is None or app.deleted or linked:
            move_write(op, W.DONE)
            op.last_error = "closed: the app contact was linked or deleted meanwhile"
            continue
        proven = absence_proven(op.first_sent_at, walk, lag=lag, margin=margin)
        if proven and op.app_contact_id in in_review:
            move_write(op, W.PARKED)
            op.run_id = run.id
            op.last_error = "not found by a complete walk, but a review may still link its app contact"
            continue
        if proven:
            move_write(op, W.PENDING)
            op.first_sent_at = None
            op.last_error = f"not on the platform after a walk of its whole window (run {run.id}): sending again"
            resend += 1
        else:
            move_write(op, W.UNCERTAIN)
        op.run_id, op.updated_at = run.id, utcnow()
        todo.append(op.id)
    return todo, resend


def reach_back(s: Session, conn: Connection, after: datetime | None) -> datetime | None:
    """An incremental window's start, moved back to just before the first send of any open lost create, so the
    walk that may prove its absence covers its whole window."""
    if after is None:
        return None
    earliest = s.scalar(
        select(func.min(WriteOp.first_sent_at)).where(
            WriteOp.connection_id == conn.id,
            WriteOp.kind == "create",
            WriteOp.status.in_(MAYBE_SENT_STATES),
        )
    )
    if earliest is None:
        return after
    return min(after, window_start(earliest, clock_margin(conn)))
