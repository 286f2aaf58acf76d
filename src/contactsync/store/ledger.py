"""Planning writes into the ledger (what the platform answered is recorded by `store.answers`).

Planning is repeatable: ledger keys are deterministic (`create:<app contact>`, `update:<app contact>:<app
contact version>:<payload digest>`) and inserted with ON CONFLICT DO NOTHING, so planning twice (a redelivered
task, a re-driven run) never queues a second create for the same contact, nor the same update of the same app
state twice. The version is in an update's key because the same change can be due again later: the app sets
a field back to a value an earlier update already sent (USD, then the books' GBP, then USD again), and a key of
the payload alone would find the old entry and drop the new write for good. A plan's creates are inserted
together, in one transaction, and so are its linked pairs' entries with the rest of their planning: each part is
on disk whole or not at all. The run task commits the creates first, so that they are sent while the pairs are
planned (`tasks.plan`); the run's `writes_planned` keeps it from ending in between.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import exists, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, defer

from contactsync.contact import unstated_in
from contactsync.models import AppContact, Link, RemoteContact, WriteOp, WriteState
from contactsync.models.base import table_of, utcnow
from contactsync.models.contacts import AppContactStatus
from contactsync.providers.registry import carried_content
from contactsync.store.arrays import insert_rows
from contactsync.store.contacts import rewrite_changed_keys, update_app_content
from contactsync.store.reconcile import open_conflict_review, review_candidate_ids
from contactsync.store.removals import platform_state_changed, platform_state_of
from contactsync.store.synced_links import save_synced, save_taken_in
from contactsync.sync.alike import with_app_places, with_app_types
from contactsync.sync.planning import FieldBaseline, LinkBasis, PairState, baseline_of, digests, plan_pair
from contactsync.sync.walks import walk_shows_our_create


@dataclass
class PlanOutcome:
    creates: int = 0
    remote_updates: int = 0
    app_updates: int = 0
    conflicts: int = 0
    # Identity changes not sent because the link is not confirmed; pairs sent to review; platform removals seen.
    held: int = 0
    reviews: int = 0
    removals: int = 0
    # Updates of contacts our creates made that wait for a walk begun after the platform's visibility lag.
    deferred: int = 0


@dataclass(frozen=True)
class _Settled:
    walk_started_at: datetime | None
    visibility_lag: timedelta | None

    def shows(self, link: Link) -> bool:
        """Whether the plan's walk shows the platform's side of the pair as the platform's users left it."""
        if self.visibility_lag is None or link.method != "created":
            return True
        return walk_shows_our_create(link.created_at, self.walk_started_at, self.visibility_lag)


def _digest(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


@dataclass
class _Queue:
    """Ledger rows planned by one `plan_creates` or `plan_pairs`, inserted together: one statement per chunk instead
    of one per entry, as planning a big tenant's first sync queues tens of thousands."""

    tenant_id: str
    connection_id: int
    run_id: int
    rows: list[dict[str, Any]]

    def add(
        self,
        key: str,
        kind: str,
        app_contact_id: int,
        payload: dict[str, Any],
        remote_id: str | None = None,
        app_version: int | None = None,
    ) -> None:
        self.rows.append(
            {
                "tenant_id": self.tenant_id,
                "connection_id": self.connection_id,
                "run_id": self.run_id,
                "op_key": key,
                "kind": kind,
                "app_contact_id": app_contact_id,
                "remote_id": remote_id,
                "payload": payload,
                "app_version": app_version,
                "idempotency_key": str(uuid.uuid4()),
                "status": WriteState.PENDING,
            }
        )

    def insert(self, s: Session, chunk: int = 1000) -> dict[str, int]:
        """Insert what is queued (an entry whose key exists is left as it is); returns new entries per kind."""
        added: dict[str, int] = {}
        for start in range(0, len(self.rows), chunk):
            table = table_of(WriteOp)
            stmt = pg_insert(table).on_conflict_do_nothing().returning(table.c.kind)
            for (kind,) in insert_rows(s, stmt, self.rows[start : start + chunk]):
                added[kind] = added.get(kind, 0) + 1
        self.rows.clear()
        return added


def pair_state(
    link: Link,
    app: AppContact,
    remote: RemoteContact,
    dialect: str,
    conflict_policy: str,
    accepted: Any,
    unwritable: frozenset[str] = frozenset(),
    send_clears: bool = False,
) -> PairState:
    """What planning needs to know about one linked pair, read from the rows (`accepted`: the tax ids a person
    accepted as the same company, the link explanation's `accepted_tax_ids`)."""
    return PairState(
        app_content=carried_content(dialect, app.data),
        app_hash=app.content_hash,
        app_updated_at=app.edited_at,
        remote_content=remote.data,
        remote_hash=remote.content_hash,
        remote_updated_at=remote.remote_updated_at or remote.modified_at,
        app_synced_hash=link.app_synced_hash,
        remote_synced_hash=link.remote_synced_hash,
        remote_deleted=remote.deleted,
        conflict_policy=conflict_policy,
        basis=LinkBasis(link.basis),
        app_unknown=frozenset(app.unknown_fields),
        baseline=FieldBaseline.from_json(link.baseline),
        accepted_tax_ids=(str(accepted[0]), str(accepted[1])) if isinstance(accepted, list) and accepted else None,
        app_edited=app.edited_fields,
        unwritable=unwritable,
        send_clears=send_clears,
        remote_view=carried_content(dialect, remote.data),
        remote_unstated=unstated_in(remote.data),
        remote_edited_at=remote.remote_updated_at,
    )


def mark_synced(
    link: Link, app: AppContact, remote: RemoteContact, dialect: str, app_content: dict[str, Any] | None = None
) -> None:
    """Both sides as they are now are the new baseline: later changes are measured from here. `app_content`: the
    app side's carried view where the caller holds it already (`PairState.app_content` of an unchanged app row)."""
    link.app_synced_hash, link.remote_synced_hash = app.content_hash, remote.content_hash
    carried = carried_content(dialect, app.data) if app_content is None else app_content
    link.baseline = baseline_of(carried, remote.data, app.version).to_json()
    link.updated_at = utcnow()


# Planning reads a big tenant's contacts this many at a time: the rows of a chunk are let go (and their changes
# flushed) before the next is read, so a worker planning a 100,000-contact tenant's first sync holds one chunk,
# not the tenant. Measured before chunking: one plan of 100,000 contacts took its worker process to 2 GB.
PLAN_CHUNK = 500


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    size = PLAN_CHUNK
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def plan_into_ledger(
    s: Session,
    tenant_id: str,
    connection_id: int,
    run_id: int,
    allow_creates: bool,
    dialect: str = "merge",
    conflict_policy: str = "newer",
    *,
    walk_started_at: datetime | None = None,
    visibility_lag: timedelta | None = None,
) -> PlanOutcome:
    """Queue the run's creates and updates in one transaction (`plan_creates`, then `plan_pairs`).
    `walk_started_at` and `visibility_lag`: when the walk this plan rests on began, and how long the platform may
    take to list a contact it created (without them, no update waits for the lag; see
    `sync.walks.walk_shows_our_create`)."""
    out = PlanOutcome()
    if allow_creates:
        out.creates = plan_creates(s, tenant_id, connection_id, run_id)
    plan_pairs(
        s,
        out,
        tenant_id,
        connection_id,
        run_id,
        dialect,
        conflict_policy,
        walk_started_at=walk_started_at,
        visibility_lag=visibility_lag,
    )
    return out


def plan_creates(s: Session, tenant_id: str, connection_id: int, run_id: int) -> int:
    """Queue a create for every active app contact without a link that no open review holds back; returns how
    many entries are new. Every link counts, ended ones too: a contact deleted on the platform is not created
    again."""
    queue = _Queue(tenant_id, connection_id, run_id, [])
    added: dict[str, int] = {}
    in_review = review_candidate_ids(s, tenant_id)
    # Asked as NOT EXISTS, which PostgreSQL can run as an anti-join; NOT IN cannot be (its NULL rule), so it was a
    # filter testing every app contact against the hashed subquery. Every run plans: at 5,000 contacts a tenant
    # the statement took 22-30 ms (medians of four tenants) against 27-32 ms.
    linked = exists().where(Link.app_contact_id == AppContact.id, Link.tenant_id == tenant_id)
    unlinked = s.scalars(
        select(AppContact.id)
        .where(
            AppContact.tenant_id == tenant_id,
            AppContact.deleted.is_(False),
            AppContact.status == AppContactStatus.ACTIVE,
            ~linked,
        )
        .order_by(AppContact.id)
    ).all()
    for chunk in _chunks([i for i in unlinked if i not in in_review]):
        for app_id, data, version in s.execute(
            select(AppContact.id, AppContact.data, AppContact.version)
            .where(AppContact.id.in_(chunk))
            .order_by(AppContact.id)
        ):
            queue.add(f"create:{app_id}", "create", app_id, data, app_version=version)
        _count(added, queue.insert(s))
    return added.get("create", 0)


class _Rules(NamedTuple):
    """What the connection says about planning its pairs (see `plan_pairs`)."""

    dialect: str
    conflict_policy: str
    unwritable: frozenset[str]
    send_clears: bool


def plan_pairs(
    s: Session,
    out: PlanOutcome,
    tenant_id: str,
    connection_id: int,
    run_id: int,
    dialect: str = "merge",
    conflict_policy: str = "newer",
    *,
    walk_started_at: datetime | None = None,
    visibility_lag: timedelta | None = None,
    unwritable: frozenset[str] = frozenset(),
    send_clears: bool = False,
) -> None:
    """Plan every linked pair of the connection whose either side changed since its baseline: what goes to the
    app, the platform or review. Counted into `out` (`remote_updates`: new update entries). `unwritable`: the
    synced fields the connection cannot write, `send_clears` the connection's option (see `sync.planning`)."""
    settled = _Settled(walk_started_at, visibility_lag)
    rules = _Rules(dialect, conflict_policy, unwritable, send_clears)
    queue = _Queue(tenant_id, connection_id, run_id, [])
    added: dict[str, int] = {}
    changed = s.scalars(
        select(Link.id)
        .join(AppContact, AppContact.id == Link.app_contact_id)
        .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
        .where(
            Link.tenant_id == tenant_id,
            Link.ended_at.is_(None),
            RemoteContact.connection_id == connection_id,
            or_(
                Link.app_synced_hash.is_(None),
                Link.remote_synced_hash.is_(None),
                Link.app_synced_hash != AppContact.content_hash,
                Link.remote_synced_hash != RemoteContact.content_hash,
            ),
        )
        .order_by(Link.id)
    ).all()
    for chunk in _chunks(list(changed)):
        keys_to_write: dict[int, frozenset[str]] = {}
        # The chunk's app contacts are locked before they are read (in id order, as the app's upserts lock them):
        # a pair whose platform values are taken in must not overwrite an app edit committed since the read.
        # NO KEY UPDATE: links and ledger entries that only reference the rows go on meanwhile.
        s.execute(
            select(AppContact.id)
            .join(Link, Link.app_contact_id == AppContact.id)
            .where(Link.id.in_(chunk))
            .order_by(AppContact.id)
            .with_for_update(of=AppContact, key_share=True)
        )
        pairs = s.execute(
            select(Link, AppContact, RemoteContact, Link.explanation["accepted_tax_ids"])
            .join(AppContact, AppContact.id == Link.app_contact_id)
            .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
            .where(Link.id.in_(chunk))
            .order_by(Link.id)
            # The platform's raw payload is the largest document of a pair and planning never reads it; of the
            # match's explanation (the next largest) it reads one key, selected on its own.
            .options(defer(RemoteContact.raw), defer(Link.explanation))
            .execution_options(populate_existing=True)
        ).all()
        synced: list[Link] = []
        taken: list[AppContact] = []
        for link, app, remote, accepted in pairs:
            pair = (link, app, remote, accepted)
            _plan_one(s, out, queue, keys_to_write, (synced, taken), pair, rules, settled)
        save_synced(s, synced)
        save_taken_in(s, taken)
        rewrite_changed_keys(s, tenant_id, keys_to_write)
        _count(added, queue.insert(s))
        s.flush()  # the chunk's rows are clean now: the session lets them go once `pairs` is dropped
        del pairs
    out.remote_updates += added.get("update", 0)


def _count(total: dict[str, int], more: dict[str, int]) -> None:
    for kind, n in more.items():
        total[kind] = total.get(kind, 0) + n


def _plan_one(
    s: Session,
    out: PlanOutcome,
    queue: _Queue,
    keys_to_write: dict[int, frozenset[str]],
    saved: tuple[list[Link], list[AppContact]],
    pair: tuple[Link, AppContact, RemoteContact, Any],
    rules: _Rules,
    settled: _Settled,
) -> None:
    """One changed linked pair (with its accepted tax ids, see `pair_state`): the platform's removal state, then
    what goes to the app, the platform or review. `rules`: what the connection says (`_Rules`). `saved`: the
    chunk's links left in sync and app contacts that took platform values in, which the caller writes together
    (`store.synced_links`)."""
    link, app, remote, accepted = pair
    dialect, conflict_policy, unwritable, send_clears = rules
    synced, taken = saved
    if platform_state_changed(s, link, app, platform_state_of(remote)):
        out.removals += 1
    if link.ended_at is not None:
        return
    state = pair_state(link, app, remote, dialect, conflict_policy, accepted, unwritable, send_clears)
    plan = plan_pair(state)
    if plan.review is not None:
        if open_conflict_review(s, link.tenant_id, link, plan.review):
            out.reviews += 1
        return  # nothing is written either way while a person has not decided
    out.conflicts += len(plan.conflicts)
    out.held += len(plan.held)
    into_app = taken_in(plan.to_app, app.data)
    if into_app:
        update_app_content(s, app, {**app.data, **into_app}, remote_id=remote.remote_id, keys_to_write=keys_to_write)
        taken.append(app)
        out.app_updates += 1
    if plan.to_remote and not settled.shows(link):
        # The platform may not list what its users did to the contact our create made yet: the pair is planned
        # again by a later run (its baseline is left as it was), whose walk shows the platform as it is.
        out.deferred += 1
    elif plan.to_remote:
        key = f"update:{app.id}:{app.version}:{_digest({'changes': plan.to_remote})}"
        queue.add(
            key,
            "update",
            app.id,
            {"changes": plan.to_remote, "base": _plan_base(app, remote, dialect)},
            remote.remote_id,
        )
    else:
        # The carried view planning read still holds unless platform values were just taken into the app.
        mark_synced(link, app, remote, dialect, app_content=None if into_app else state.app_content)
        synced.append(link)  # written with the chunk's other synced links (`store.synced_links`)


def taken_in(to_app: dict[str, Any], app_data: dict[str, Any]) -> dict[str, Any]:
    """The platform values a plan takes into the app, as the app will hold them: phone lines and addresses that
    are the app's own stay as the app writes them, with the app's parts where the platform leaves them blank
    (the app's type, not its carried view's: "work", not Maesn's BUSINESS) and the platform's where the app's
    are blank (`alike.with_app_types`, `alike.with_app_places`); a field that comes out as the app already holds
    it is no change (no new version, nothing in the changes feed)."""
    taken = dict(to_app)
    if "phones" in taken:
        taken["phones"] = with_app_types(taken["phones"], app_data)
    if "addresses" in taken:
        taken["addresses"] = with_app_places(taken["addresses"], app_data)
    return {name: value for name, value in taken.items() if value != app_data.get(name)}


def _plan_base(app: AppContact, remote: RemoteContact, dialect: str) -> dict[str, Any]:
    """Both sides as the plan saw them, kept with an update so that its answer sets the baseline to them."""
    return {
        "app_hash": app.content_hash,
        "app_version": app.version,
        "app": digests(carried_content(dialect, app.data)),
        "remote_hash": remote.content_hash,
        "remote": digests(remote.data),
    }
