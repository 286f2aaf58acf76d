"""Reconciling mirrored remote contacts with the app's contacts: load candidates, call the matcher, persist.

Candidates come from the persisted blocking keys (one indexed query per page), so no index is rebuilt per page.
Links are inserted with ON CONFLICT DO NOTHING on both unique sides: when two pages reconciled on different
workers both want the same app contact, the first wins and the other remote contact goes to review, never to a
second link. App contacts that are already linked remain candidates, so what the matcher decides for a remote
contact does not depend on the order in which pages were reconciled.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, Integer, Text, any_, bindparam, func, select, text, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, defer

from contactsync.matching import Decision, blocking_keys, match_candidates, prepare
from contactsync.matching.blocking import HOLDER_LIMIT, WEAK_HOLDER_LIMIT, common_keys
from contactsync.matching.prepared import Prepared
from contactsync.matchinput import match_record
from contactsync.models import AppContact, Connection, ContactKey, Link, RemoteContact, ReviewItem
from contactsync.models.base import table_of, utcnow
from contactsync.states import ReviewStatus, sql_in
from contactsync.store import changes as feed
from contactsync.store.arrays import insert_rows
from contactsync.store.lost_creates import link_echoes
from contactsync.store.review import tenant_model
from contactsync.sync.planning import LinkBasis, same_valid_tax_id

# `too_common` compares a key's holders with a limit; a count capped one past the highest limit decides the same.
_HOLDERS_READ = max(HOLDER_LIMIT, WEAK_HOLDER_LIMIT) + 1


@dataclass(frozen=True, slots=True)
class Candidate:
    """An app contact as a page's matching reads it: the columns it needs, read without an ORM object (a page
    loads hundreds of candidates, and nothing in reconciling changes them)."""

    id: int
    app_id: str
    content_hash: str
    data: dict[str, Any]


@dataclass
class ReconcileOutcome:
    linked: int = 0
    reviewed: int = 0
    unmatched: int = 0
    # echoes of creates whose answer was lost, linked to what was sent
    created: int = 0


def reconcile_remote(s: Session, tenant_id: str, remote_ids: Sequence[int]) -> ReconcileOutcome:
    outcome = ReconcileOutcome()
    rows = list(
        s.scalars(
            select(RemoteContact)
            .where(
                RemoteContact.tenant_id == tenant_id,
                RemoteContact.id.in_(list(remote_ids)),
                RemoteContact.needs_reconcile.is_(True),
            )
            .order_by(RemoteContact.id)
            # The platform's raw payload is the largest document of a row and reconciling never reads it.
            .options(defer(RemoteContact.raw))
        )
    )
    if not rows:
        return outcome
    linked_remote = set(
        s.scalars(select(Link.remote_contact_id).where(Link.remote_contact_id.in_([r.id for r in rows])))
    )
    feed.remote_deleted(s, tenant_id, [r for r in rows if r.deleted and r.id in linked_remote])
    todo = [r for r in rows if r.id not in linked_remote and not r.deleted]
    # A fetched contact that is the echo of one of our creates whose answer was lost is linked to the contact
    # that was sent, before the matcher sees it (it would see a second copy, or a stranger).
    conn = s.get(Connection, rows[0].connection_id)
    echoes = link_echoes(s, tenant_id, todo, conn.dialect) if conn is not None else set()
    outcome.created += len(echoes)
    todo = [r for r in todo if r.id not in echoes]
    left = [prepare(match_record(str(r.id), r.data)) for r in todo]  # prepared once: for the keys and the matcher
    keys = sorted({k for rec in left for k in blocking_keys(rec)})
    candidates, common = _candidates(s, tenant_id, keys)
    right = [_prepared_app(a) for a in candidates]
    by_id = {a.id: a for a in candidates}
    # The tenant's model, re-fitted from its review decisions (the defaults until a person has decided some).
    decisions = match_candidates(left, right, tenant_model(s, tenant_id), common) if left and right else []
    by_left: dict[str, list[Decision]] = {}
    for d in decisions:
        by_left.setdefault(d.left_id, []).append(d)
    sure = []
    for remote in todo:
        link = next((d for d in by_left.get(str(remote.id), []) if d.decision == "link"), None)
        if link is not None:
            sure.append((remote, by_id[int(link.right_id)], link))
    linked = _insert_links(s, tenant_id, sure)
    to_review: dict[int, list[Decision]] = {}
    changes: list[dict[str, Any]] = []
    for remote in todo:
        mine = by_left.get(str(remote.id), [])
        if remote.id in linked:
            changes.append(feed.linked_item(by_id[linked[remote.id]].app_id, remote.remote_id, "engine"))
        elif mine:  # unsure, or sure of an app contact another remote contact is already linked to
            to_review[remote.id] = mine
        else:
            outcome.unmatched += 1
            changes.append(feed.platform_only_item(remote))
    feed.record(s, tenant_id, changes)
    _close_reviews(s, sorted(linked), ReviewStatus.LINKED, "engine")
    _open_reviews(s, tenant_id, to_review)
    outcome.linked += len(linked)
    outcome.reviewed += len(to_review)
    s.execute(update(RemoteContact).where(RemoteContact.id.in_([r.id for r in rows])).values(needs_reconcile=False))
    return outcome


def settle_linked(s: Session, remote_ids: Sequence[int]) -> int:
    """Clear the reconcile flag of those of `remote_ids` that are linked already and not deleted; how many.

    For them `reconcile_remote` does nothing else: a linked contact is never matched again (planning compares the
    pair's hashes for what changed), and only a deleted one has something to say (the feed's deletion item), so
    those are left to it. A fetched page of edits to linked pairs (most of an incremental walk's changes) then
    needs no reconcile at all."""
    if not remote_ids:
        return 0
    table = table_of(RemoteContact)
    t = table.c
    linked = select(Link.remote_contact_id).where(Link.remote_contact_id == t.id).exists()
    settled = s.execute(
        update(table)
        .where(t.id == any_(bindparam("ids", sorted(remote_ids), ARRAY(Integer))), t.needs_reconcile.is_(True),
               t.deleted.is_(False), linked)
        .values(needs_reconcile=False)
        .returning(t.id)
    ).all()  # fmt: skip
    return len(settled)


# App contacts prepared for the matcher, kept per process: an app contact is a candidate of many pages (every
# page holding a remote contact that shares one of its keys), and preparing it is most of a page's matching
# time. By id and content hash, so a changed contact is prepared again; bounded, so a big tenant's run holds
# a few thousand, not the tenant (a prepared record is about 2 KB: 4,096 of them about 9 MB).
_PREPARED: OrderedDict[tuple[int, str], Prepared] = OrderedDict()
_PREPARED_MAX = 4096


def _prepared_app(app: Candidate) -> Prepared:
    key = (app.id, app.content_hash)
    hit = _PREPARED.get(key)
    if hit is not None:
        _PREPARED.move_to_end(key)
        return hit
    made = _PREPARED[key] = prepare(match_record(str(app.id), app.data))
    if len(_PREPARED) > _PREPARED_MAX:
        _PREPARED.popitem(last=False)
    return made


def _candidates(s: Session, tenant_id: str, keys: list[str]) -> tuple[list[Candidate], set[str]]:
    """The app contacts that share a blocking key with the page, leaving out keys too common to say much (and
    those keys, which the matcher sets aside too).

    A key that too many app contacts share (a surname, a franchise's domain) says little and would flood the page
    with candidates; the batch matcher's rule sets it aside (`common_keys`), so both decide alike. Deleted app
    contacts hold no keys (`contacts.drop_keys`), so the holders counted are the live contacts, the ones the
    batch matcher would be given. The rule only
    asks whether a key's holders exceed a limit, so each key's index entries are read up to `_HOLDERS_READ` (one
    past the highest limit) and no further: the cost of a page does not grow with the size of the tenant, as a
    count over every holder of a common key would.
    Linked app contacts stay candidates: the decision must not depend on which page a worker happened to
    reconcile first. A sure match to an app contact that is already linked becomes a review item instead (a
    possible duplicate in the books), never a second link.
    """
    if not keys:
        return [], set()
    # The keys go as one array parameter: a statement of the same shape for every page (compiled once per
    # process), where a VALUES list of a page's thousand keys was compiled anew each time.
    page_keys = (
        func.unnest(bindparam("page_keys", keys, type_=ARRAY(Text)))
        .table_valued("key")
        .render_derived(name="page_keys")
    )
    hits = (
        select(ContactKey.app_contact_id)
        .where(ContactKey.tenant_id == tenant_id, ContactKey.key == page_keys.c.key)
        .limit(_HOLDERS_READ)
        .lateral("hits")
    )
    holders = s.execute(
        select(page_keys.c.key, func.count()).select_from(page_keys.join(hits, true())).group_by(page_keys.c.key)
    )
    common = common_keys({k: n for k, n in holders})
    wanted = [k for k in keys if k not in common]
    if not wanted:
        return [], common
    # The holders of the page's keys first, by the (tenant, key) index, then their rows by id. Materialised, so
    # the planner cannot turn it around: with statistics taken before the tenant's contacts arrived (a first sync
    # right after an import) it probed every key of the tenant once per app contact, a cost that grew with the
    # square of the tenant (0.5 s a page at 1,000 contacts).
    candidate_ids = (
        select(ContactKey.app_contact_id)
        .where(ContactKey.tenant_id == tenant_id, ContactKey.key == any_(bindparam("wanted", wanted, ARRAY(Text))))
        .distinct()
        .cte("candidate_ids")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    rows = s.execute(
        select(AppContact.id, AppContact.app_id, AppContact.content_hash, AppContact.data)
        .join(candidate_ids, candidate_ids.c.app_contact_id == AppContact.id)
        .where(AppContact.tenant_id == tenant_id, AppContact.deleted.is_(False))
        .order_by(AppContact.id)
    )
    return [Candidate(*row) for row in rows], common


def _insert_links(s: Session, tenant_id: str, pairs: list[tuple[RemoteContact, Candidate, Decision]]) -> dict[int, int]:
    """Insert the page's sure links in one statement; returns {remote contact id: app contact id} of those that
    went in. One that meets an existing link on either side (another page or worker got there first) is skipped
    by ON CONFLICT and goes to review. Rows go in app contact order, so two pages inserting at once take their
    unique-index entries in one order and cannot deadlock on each other (the matcher's links are one-to-one, so
    the order decides nothing within the page)."""
    if not pairs:
        return {}
    rows = []
    for remote, app, d in sorted(pairs, key=lambda p: p[1].id):
        # A score, however high, may be a sister company; only the same valid tax id confirms the link by itself.
        basis = LinkBasis.IDENTIFIER if same_valid_tax_id(app.data, remote.data) else LinkBasis.SCORE
        rows.append(
            {
                "tenant_id": tenant_id,
                "app_contact_id": app.id,
                "remote_contact_id": remote.id,
                "method": "exact" if float(d.score) >= 0.9999 else "fuzzy",
                "basis": basis,
                "score": float(d.score),
                "explanation": dict(d.explanation),
                "decided_by": "engine",
            }
        )
    link = table_of(Link)
    stmt = pg_insert(link).on_conflict_do_nothing().returning(link.c.remote_contact_id, link.c.app_contact_id)
    inserted = insert_rows(s, stmt, rows)
    return {int(r): int(a) for r, a in inserted}


def _open_reviews(s: Session, tenant_id: str, items: dict[int, list[Decision]]) -> None:
    """Open (or refresh the candidates of) one review item per remote contact, in one statement."""
    if not items:
        return
    rows = [
        {
            "tenant_id": tenant_id,
            "remote_contact_id": remote_id,
            "status": ReviewStatus.OPEN,
            "candidates": [
                {"app_contact_id": int(d.right_id), "score": float(d.score), "explanation": dict(d.explanation)}
                for d in sorted(decisions, key=lambda d: -d.score)
            ],
        }
        for remote_id, decisions in sorted(items.items())
    ]
    table = table_of(ReviewItem)
    stmt = pg_insert(table)
    upsert = stmt.on_conflict_do_update(
        index_elements=[table.c.remote_contact_id],
        index_where=text(sql_in("status", [ReviewStatus.OPEN])),  # the partial index's own predicate: inferred
        set_={"candidates": stmt.excluded.candidates},
    )
    insert_rows(s, upsert.returning(table.c.id), rows)


def open_conflict_review(s: Session, tenant_id: str, link: Link, reason: str) -> bool:
    """A linked pair a person must look at (e.g. their valid tax ids differ); returns whether an item was opened.

    The item names the linked app contact as its only candidate: linking it again confirms the pair as it is,
    rejecting it ends the link.
    """
    if s.scalar(select(ReviewItem.id).where(ReviewItem.remote_contact_id == link.remote_contact_id,
                                            ReviewItem.status == ReviewStatus.OPEN)) is not None:  # fmt: skip
        return False
    candidate = {"app_contact_id": link.app_contact_id, "score": float(link.score), "explanation": {"reason": reason}}
    s.add(
        ReviewItem(tenant_id=tenant_id, remote_contact_id=link.remote_contact_id, candidates=[candidate], reason=reason)
    )
    s.flush()
    return True


def _close_reviews(s: Session, remote_ids: Sequence[int], status: ReviewStatus, who: str) -> None:
    if not remote_ids:
        return
    s.execute(
        update(ReviewItem)
        .where(ReviewItem.remote_contact_id.in_(list(remote_ids)), ReviewItem.status == ReviewStatus.OPEN)
        .values(status=status, resolved_by=who, resolved_at=utcnow())
    )


def pending_remote_ids(s: Session, tenant_id: str, connection_id: int) -> list[int]:
    """Mirrored contacts no reconcile has looked at yet (e.g. their run died); nothing is left behind."""
    return list(
        s.scalars(
            select(RemoteContact.id).where(
                RemoteContact.tenant_id == tenant_id,
                RemoteContact.connection_id == connection_id,
                RemoteContact.needs_reconcile.is_(True),
            )
        )
    )


def review_candidate_ids(s: Session, tenant_id: str) -> set[int]:
    """App contacts named in an open review: never created remotely while a person may still link them."""
    ids: set[int] = set()
    for candidates in s.scalars(
        select(ReviewItem.candidates).where(ReviewItem.tenant_id == tenant_id, ReviewItem.status == ReviewStatus.OPEN)
    ):
        ids.update(int(c["app_contact_id"]) for c in candidates)
    return ids
