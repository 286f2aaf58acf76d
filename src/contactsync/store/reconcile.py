"""Reconciling mirrored remote contacts with the app's contacts: load candidates, call the matcher, persist.

Candidates come from the persisted blocking keys (one indexed query per page), so no index is rebuilt per page.
Links are inserted with ON CONFLICT DO NOTHING on both unique sides: when two pages reconciled on different
workers both want the same app contact, the first wins and the other remote contact goes to review, never to a
second link. App contacts that are already linked remain candidates, so what the matcher decides for a remote
contact does not depend on the order in which pages were reconciled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from contactsync.matching import Decision, blocking_keys, match_candidates
from contactsync.matching.blocking import common_keys
from contactsync.matchinput import match_record
from contactsync.models import AppContact, Connection, ContactKey, Link, RemoteContact, ReviewItem
from contactsync.states import ReviewStatus
from contactsync.store import changes as feed
from contactsync.store.lost_creates import link_echoes
from contactsync.store.review import tenant_model
from contactsync.sync.planning import LinkBasis, same_valid_tax_id


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
    left = [match_record(str(r.id), r.data) for r in todo]
    keys = sorted({k for rec in left for k in blocking_keys(rec)})
    candidates: list[AppContact] = []
    common: set[str] = set()
    if keys:
        # A key that too many app contacts share (a surname, a franchise's domain) says little and would flood
        # the page with candidates; the batch matcher's rule sets it aside (`common_keys`), so both decide alike.
        holders = s.execute(
            select(ContactKey.key, func.count())
            .where(ContactKey.tenant_id == tenant_id, ContactKey.key.in_(keys))
            .group_by(ContactKey.key)
        ).tuples()
        common = common_keys({k: n for k, n in holders})
        candidate_ids = select(ContactKey.app_contact_id).where(
            ContactKey.tenant_id == tenant_id, ContactKey.key.in_([k for k in keys if k not in common])
        )
        # Linked app contacts stay candidates: the decision must not depend on which page a worker happened to
        # reconcile first. A sure match to an app contact that is already linked becomes a review item instead (a
        # possible duplicate in the books), never a second link.
        candidates = list(
            s.scalars(
                select(AppContact).where(
                    AppContact.tenant_id == tenant_id,
                    AppContact.id.in_(candidate_ids),
                    AppContact.deleted.is_(False),
                )
            )
        )
    right = [match_record(str(a.id), a.data) for a in candidates]
    by_id = {a.id: a for a in candidates}
    # The tenant's model, re-fitted from its review decisions (the defaults until a person has decided some).
    decisions = match_candidates(left, right, tenant_model(s, tenant_id), common) if left and right else []
    by_left: dict[str, list[Decision]] = {}
    for d in decisions:
        by_left.setdefault(d.left_id, []).append(d)
    for remote in todo:
        mine = by_left.get(str(remote.id), [])
        sure = [d for d in mine if d.decision == "link"]
        if sure and _insert_link(s, tenant_id, remote, by_id[int(sure[0].right_id)], sure[0]):
            outcome.linked += 1
            feed.linked(s, tenant_id, int(sure[0].right_id), remote.id, "engine")
            _close_review(s, remote.id, ReviewStatus.LINKED, "engine")
        elif mine:
            _open_review(s, tenant_id, remote.id, mine)
            outcome.reviewed += 1
        else:
            outcome.unmatched += 1
            feed.platform_only(s, tenant_id, remote)
    s.execute(update(RemoteContact).where(RemoteContact.id.in_([r.id for r in rows])).values(needs_reconcile=False))
    return outcome


def _insert_link(s: Session, tenant_id: str, remote: RemoteContact, app: AppContact, d: Decision) -> bool:
    explanation: dict[str, Any] = dict(d.explanation)
    method = "exact" if float(d.score) >= 0.9999 else "fuzzy"
    # A score, however high, may be a sister company; only the same valid tax id confirms the link by itself.
    basis = LinkBasis.IDENTIFIER if same_valid_tax_id(app.data, remote.data) else LinkBasis.SCORE
    stmt = (
        pg_insert(Link)
        .values(
            tenant_id=tenant_id,
            app_contact_id=app.id,
            remote_contact_id=remote.id,
            method=method,
            basis=basis,
            score=float(d.score),
            explanation=explanation,
            decided_by="engine",
        )
        .on_conflict_do_nothing()
        .returning(Link.id)
    )
    return s.execute(stmt).scalar() is not None


def _open_review(s: Session, tenant_id: str, remote_id: int, decisions: list[Decision]) -> None:
    candidates = [
        {"app_contact_id": int(d.right_id), "score": float(d.score), "explanation": dict(d.explanation)}
        for d in sorted(decisions, key=lambda d: -d.score)
    ]
    existing = s.scalar(
        select(ReviewItem).where(ReviewItem.remote_contact_id == remote_id, ReviewItem.status == ReviewStatus.OPEN)
    )
    if existing is not None:
        existing.candidates = candidates
        return
    s.add(ReviewItem(tenant_id=tenant_id, remote_contact_id=remote_id, candidates=candidates, status=ReviewStatus.OPEN))
    s.flush()


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


def _close_review(s: Session, remote_id: int, status: ReviewStatus, who: str) -> None:
    from contactsync.models.base import utcnow

    s.execute(
        update(ReviewItem)
        .where(ReviewItem.remote_contact_id == remote_id, ReviewItem.status == ReviewStatus.OPEN)
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
