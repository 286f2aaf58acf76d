"""The review queue: the matcher's unsure cases, decided by a person.

A decision is final for the engine: a person's link is never undone by a later reconcile (the remote contact
is linked, so the matcher no longer looks at it), and a rejection lets the candidates be created on the
platform by the next run, since a person has said they are not this remote contact. Every decision is also
kept as labelled pairs (`match_labels`), from which `tenant_model` re-fits the tenant's matching model.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from contactsync.matching import Model
from contactsync.matching.learn import Label, fit
from contactsync.models import AppContact, Link, MatchLabel, RemoteContact, ReviewItem
from contactsync.models.base import utcnow
from contactsync.states import REVIEW_TRANSITIONS, ReviewStatus
from contactsync.store import changes as feed
from contactsync.store.matchmodel import base_model
from contactsync.store.transitions import checked_move
from contactsync.sync.planning import LinkBasis


class ReviewError(ValueError):
    """The decision cannot be applied (unknown item, already decided, contact linked elsewhere)."""


def open_items(s: Session, tenant_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """Open items with both sides' names, best candidate first, for a person to decide."""
    out = []
    rows = s.execute(
        select(ReviewItem, RemoteContact)
        .join(RemoteContact, RemoteContact.id == ReviewItem.remote_contact_id)
        .where(ReviewItem.tenant_id == tenant_id, ReviewItem.status == ReviewStatus.OPEN)
        .order_by(ReviewItem.id)
        .limit(limit)
    ).all()
    for item, remote in rows:
        ids = [int(c["app_contact_id"]) for c in item.candidates]
        apps = {a.id: a for a in s.scalars(select(AppContact).where(AppContact.id.in_(ids)))}
        out.append(
            {
                "item": item.id,
                "reason": item.reason,
                "remote": {"id": remote.remote_id, "name": remote.name, "data": remote.data},
                "candidates": [
                    {**c, "app_id": apps[int(c["app_contact_id"])].app_id, "name": apps[int(c["app_contact_id"])].name}
                    for c in item.candidates
                    if int(c["app_contact_id"]) in apps
                ],
            }
        )
    return out


def _item(s: Session, tenant_id: str, item_id: int) -> ReviewItem:
    item = s.scalar(
        select(ReviewItem).where(ReviewItem.id == item_id, ReviewItem.tenant_id == tenant_id).with_for_update()
    )
    if item is None:
        raise ReviewError(f"no review item {item_id} for tenant {tenant_id}")
    if item.status != ReviewStatus.OPEN:
        raise ReviewError(f"review item {item_id} was already decided ({item.status})")
    return item


def link(s: Session, tenant_id: str, item_id: int, app_id: str, who: str) -> None:
    """Link the item's remote contact to the app contact `app_id` (the app's own id).

    For a conflict item (a linked pair whose valid tax ids differ) this confirms the existing link as it is: the
    person has seen both ids, and the pair syncs again as a confirmed link until either id changes.
    """
    item = _item(s, tenant_id, item_id)
    app = s.scalar(select(AppContact).where(AppContact.tenant_id == tenant_id, AppContact.app_id == app_id))
    if app is None:
        raise ReviewError(f"no app contact {app_id!r} in tenant {tenant_id}")
    if item.reason != "match":
        _confirm_pair(s, item, app, who)
        return
    candidate = next((c for c in item.candidates if int(c["app_contact_id"]) == app.id), None)
    created = s.execute(
        pg_insert(Link)
        .values(
            tenant_id=tenant_id,
            app_contact_id=app.id,
            remote_contact_id=item.remote_contact_id,
            method="person",
            score=float(candidate["score"]) if candidate else 0.0,
            explanation={"review_item": item.id, "engine": candidate.get("explanation") if candidate else None},
            decided_by="person",
            basis=LinkBasis.PERSON,
        )
        .on_conflict_do_nothing()
        .returning(Link.id)
    ).scalar()
    if created is None:
        raise ReviewError("the app contact or the remote contact is already linked")
    feed.linked(s, tenant_id, app.id, item.remote_contact_id, who)
    _label(s, item, app.id)
    transition_review(item, ReviewStatus.LINKED, who)


def reject(s: Session, tenant_id: str, item_id: int, who: str) -> None:
    """None of the candidates is this remote contact. For a conflict item: the linked pair is two companies, so
    the link goes, and the app contact is created on the platform by the next run."""
    item = _item(s, tenant_id, item_id)
    if item.reason != "match":
        undone = s.execute(
            delete(Link)
            .where(Link.tenant_id == tenant_id, Link.remote_contact_id == item.remote_contact_id)
            .returning(Link.app_contact_id, Link.remote_contact_id)
        ).all()
        feed.unlinked(s, tenant_id, [(a, r) for a, r in undone], who)
    _label(s, item, None)
    transition_review(item, ReviewStatus.REJECTED, who)


def _confirm_pair(s: Session, item: ReviewItem, app: AppContact, who: str) -> None:
    pair = s.scalar(select(Link).where(Link.remote_contact_id == item.remote_contact_id, Link.app_contact_id == app.id))
    remote = s.get(RemoteContact, item.remote_contact_id)
    if pair is None or remote is None:
        raise ReviewError("this review item is about a linked pair; link it to the linked app contact")
    pair.basis, pair.decided_by, pair.updated_at = LinkBasis.PERSON, "person", utcnow()
    accepted = [str(app.data.get("tax_number") or ""), str(remote.data.get("tax_number") or "")]
    pair.explanation = {**pair.explanation, "accepted_tax_ids": accepted, "review_item": item.id}
    transition_review(item, ReviewStatus.LINKED, who)


def _label(s: Session, item: ReviewItem, chosen: int | None) -> None:
    """Keep the decision as labelled pairs: the chosen candidate is the same contact, the others are not."""
    for c in item.candidates:
        explanation = c.get("explanation") or {}
        levels = explanation.get("levels")
        if not levels:  # an item from before levels were recorded teaches nothing
            continue
        s.add(
            MatchLabel(
                tenant_id=item.tenant_id,
                review_item_id=item.id,
                app_contact_id=int(c["app_contact_id"]),
                same=int(c["app_contact_id"]) == chosen,
                weight=float(explanation.get("weight", 0.0)),
                levels=list(levels),
            )
        )


# The last re-fit per tenant in this process, with what it was fitted from (the labels' count, highest id and
# latest time, and the base model object): reconcile asks for the model on every page, and re-fitting from all
# of a tenant's decisions each time costs more as its reviewers work through the queue. Labels are only ever
# added (or cascade-deleted with their item), so any change moves the count or the highest id, and the time
# tells a database made again (tests) from the one the fit came from.
_fitted: dict[str, tuple[tuple[Any, ...], Model, Model]] = {}


def tenant_model(s: Session, tenant_id: str) -> Model:
    """The tenant's matching model: its stored fit (`store.matchmodel`, the defaults without one) re-fitted from
    all its review decisions, which override it."""
    seen = tuple(
        s.execute(
            select(func.count(), func.max(MatchLabel.id), func.max(MatchLabel.created_at)).where(
                MatchLabel.tenant_id == tenant_id
            )
        ).one()
    )
    base = base_model(s, tenant_id)
    hit = _fitted.get(tenant_id)
    if hit is not None and hit[0] == seen and hit[1] is base:
        return hit[2]
    rows = s.execute(
        select(MatchLabel.levels, MatchLabel.weight, MatchLabel.same)
        .where(MatchLabel.tenant_id == tenant_id)
        .order_by(MatchLabel.id)
    ).all()
    model = fit([Label(tuple(levels), weight, same) for levels, weight, same in rows], base)
    _fitted[tenant_id] = (seen, base, model)
    return model


def transition_review(item: ReviewItem, to: ReviewStatus, who: str) -> None:
    """Decide the item (locked by the caller): the one place a person's decision changes its status, refused
    (`ReviewError`) where `states.REVIEW_TRANSITIONS` has no such move. The engine's own links close open items
    with one guarded UPDATE instead (`store.reconcile`)."""
    checked_move(item, to, REVIEW_TRANSITIONS, ReviewError, what="review item")
    item.resolved_by, item.resolved_at = who, utcnow()
