"""Review decisions as the API and the review page make them: listed with filters and paging, recorded with who
and when, and acted on at once.

`store.review` holds the link and reject primitives; this module adds what a person working through thousands
of items needs (filters, paging, both contacts in full, bulk accept) and the fourth decision, "create": the app
contact is a company of its own, so its create is queued in the write ledger right away under the ledger's own
key (`create:<app contact id>`), which planning also uses, so it can never be queued twice; the caller sends it
after commit (the write task's ledger states and lock make a second sender harmless).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from contactsync.models import AppContact, RemoteContact, ReviewItem, WriteOp
from contactsync.states import ReviewStatus, WriteState
from contactsync.store import changes as feed
from contactsync.store import review
from contactsync.store.review import ReviewError
from contactsync.store.tenants import connection_of

Action = Literal["link", "keep_apart", "create"]
_TOP_SCORE = ReviewItem.candidates[0]["score"].as_float()


@dataclass
class Filters:
    status: ReviewStatus = ReviewStatus.OPEN
    min_score: float | None = None
    max_score: float | None = None
    q: str | None = None


def _query(tenant_id: str, f: Filters) -> Any:
    query = (
        select(ReviewItem, RemoteContact)
        .join(RemoteContact, RemoteContact.id == ReviewItem.remote_contact_id)
        .where(ReviewItem.tenant_id == tenant_id, ReviewItem.status == f.status)
    )
    if f.min_score is not None:
        query = query.where(f.min_score <= _TOP_SCORE)
    if f.max_score is not None:
        query = query.where(f.max_score >= _TOP_SCORE)
    if f.q:
        query = query.where(RemoteContact.name.ilike("%" + f.q.replace("%", r"\%").replace("_", r"\_") + "%"))
    return query


def list_items(s: Session, tenant_id: str, f: Filters, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, one page of items best score first), each with both contacts in full."""
    total = s.scalar(select(func.count()).select_from(_query(tenant_id, f).subquery())) or 0
    rows = s.execute(
        _query(tenant_id, f).order_by(_TOP_SCORE.desc().nulls_last(), ReviewItem.id).offset(offset).limit(limit)
    ).all()
    ids = {int(c["app_contact_id"]) for item, _ in rows for c in item.candidates}
    apps = {a.id: a for a in s.scalars(select(AppContact).where(AppContact.id.in_(ids)))} if ids else {}
    items = []
    for item, remote in rows:
        candidates = []
        for c in item.candidates:
            app = apps.get(int(c["app_contact_id"]))
            if app is not None:
                candidates.append(
                    {"app_id": app.app_id, "score": float(c["score"]), "explanation": c.get("explanation") or {},
                     "contact": app.data}
                )  # fmt: skip
        items.append(
            {
                "id": item.id,
                "status": item.status,
                "remote": {"id": remote.remote_id, "contact": remote.data},
                "candidates": candidates,
                "resolved_by": item.resolved_by,
                "resolved_at": item.resolved_at,
                "created_at": item.created_at,
            }
        )
    return total, items


def decide(s: Session, tenant_id: str, item_id: int, action: Action, app_id: str | None, who: str) -> dict[str, Any]:
    """Record one decision and act on it; returns what was done. ReviewError when it cannot apply."""
    item = s.scalar(select(ReviewItem).where(ReviewItem.id == item_id, ReviewItem.tenant_id == tenant_id))
    if item is None:
        raise LookupError(item_id)
    chosen = app_id or (_top_app_id(s, item) if item.candidates else None)
    if action == "link":
        if chosen is None:
            raise ReviewError("the item has no candidate to link")
        review.link(s, tenant_id, item_id, chosen, who)
        return {"item": item_id, "action": action, "app_id": chosen}
    remote = s.get(RemoteContact, item.remote_contact_id)
    assert remote is not None
    review.reject(s, tenant_id, item_id, who)
    feed.platform_only(s, tenant_id, remote)
    if action == "keep_apart":
        return {"item": item_id, "action": action, "app_id": None}
    if chosen is None:
        raise ReviewError("the item has no app contact to create")
    app = s.scalar(select(AppContact).where(AppContact.tenant_id == tenant_id, AppContact.app_id == chosen))
    conn = connection_of(s, tenant_id)
    if app is None or conn is None:
        raise ReviewError("no such app contact, or the tenant has no connection")
    review.transition_review(item, ReviewStatus.CREATED, who)
    op_id = s.execute(
        pg_insert(WriteOp)
        .values(
            tenant_id=tenant_id,
            connection_id=conn.id,
            run_id=None,
            op_key=f"create:{app.id}",
            kind="create",
            app_contact_id=app.id,
            payload=app.data,
            app_version=app.version,
            idempotency_key=str(uuid.uuid4()),
            status=WriteState.PENDING,
        )
        .on_conflict_do_nothing()
        .returning(WriteOp.id)
    ).scalar()
    return {"item": item_id, "action": action, "app_id": chosen, "write_op": op_id}


def _top_app_id(s: Session, item: ReviewItem) -> str | None:
    best = max(item.candidates, key=lambda c: float(c["score"]))
    return s.scalar(select(AppContact.app_id).where(AppContact.id == int(best["app_contact_id"])))


def bulk_accept(s: Session, tenant_id: str, min_score: float, who: str, limit: int = 1000) -> int:
    """Link every open item whose best candidate scores at least `min_score` to that candidate."""
    done = 0
    items = s.scalars(
        _query(tenant_id, Filters(min_score=min_score))
        .with_only_columns(ReviewItem.id)
        .order_by(ReviewItem.id)
        .limit(limit)
    ).all()
    for item_id in items:
        try:
            with s.begin_nested():
                decide(s, tenant_id, int(item_id), "link", None, who)
            done += 1
        except ReviewError:
            continue  # its candidate got linked by an earlier item of this batch: left for a person
    return done
