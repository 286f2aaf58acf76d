"""The review API: the matcher's unsure items with both contacts and its per-field explanation, decisions
(link the suggestion or another candidate, keep apart, create as new on the platform) recorded with who and
when and acted on at once, and signed review-session URLs for the review page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from contactsync import db
from contactsync.api.deps import Caller, TenantId, not_found
from contactsync.api.sessions import issue_session
from contactsync.models import Tenant
from contactsync.models.base import utcnow
from contactsync.settings import get_settings
from contactsync.states import ReviewStatus
from contactsync.store.decisions import Filters, bulk_accept, decide, list_items
from contactsync.store.review import ReviewError
from contactsync.store.tenant_admin import request_sync

router = APIRouter(prefix="/v1/tenants/{tenant_id}", tags=["review"])


class Candidate(BaseModel):
    app_id: str
    score: float
    explanation: dict[str, Any]
    contact: dict[str, Any]


class Item(BaseModel):
    id: int
    status: str
    remote: dict[str, Any]
    candidates: list[Candidate]
    resolved_by: str | None
    resolved_at: datetime | None
    created_at: datetime


class ItemsPage(BaseModel):
    total: int
    items: list[Item]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["link", "keep_apart", "create"]
    app_id: str | None = Field(
        default=None, min_length=1, max_length=255, pattern=r"^[^\x00]+$",
        description="link: the candidate to link (default: the best one); create: the app contact to create.",
    )  # fmt: skip
    by: str | None = Field(default=None, max_length=255, pattern=r"^[^\x00]*$", description="Who decided.")


class DecisionOut(BaseModel):
    item: int
    action: str
    app_id: str | None
    run_id: int | None = Field(description="The run started to act on it (None: one was under way; it follows).")


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_score: float = Field(ge=0.5, le=1.0)
    by: str | None = Field(default=None, max_length=255, pattern=r"^[^\x00]*$")


class BulkOut(BaseModel):
    linked: int
    run_id: int | None


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00]+$", description="Recorded with decisions.")
    ttl_seconds: int | None = Field(default=None, ge=60, le=86400)


class SessionOut(BaseModel):
    url: str
    expires_at: datetime


def items_page(tenant_id: str, f: Filters, offset: int, limit: int) -> ItemsPage:
    with db.session() as s:
        total, items = list_items(s, tenant_id, f, offset, limit)
    return ItemsPage(total=total, items=[Item.model_validate(i) for i in items])


def apply_decision(tenant_id: str, item_id: int, body: DecisionIn, who: str) -> DecisionOut:
    try:
        with db.session() as s:
            done = decide(s, tenant_id, item_id, body.action, body.app_id, who)
    except LookupError:
        raise not_found("no such review item") from None
    except ReviewError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    op_id = done.pop("write_op", None)
    if op_id is not None:  # "create" is sent now, not with the next run
        from contactsync.tasks.write import write
        from contactsync.worker.routing import enqueue

        enqueue(write, tenant_id, int(op_id))
    return DecisionOut(**done, run_id=request_sync(tenant_id, "review"))


def apply_bulk(tenant_id: str, body: BulkIn, who: str) -> BulkOut:
    with db.session() as s:
        linked = bulk_accept(s, tenant_id, body.min_score, who)
    return BulkOut(linked=linked, run_id=request_sync(tenant_id, "review") if linked else None)


@router.get("/review-items", response_model=ItemsPage)
def list_review_items(
    tenant_id: TenantId,
    item_status: Annotated[ReviewStatus, Query(alias="status")] = ReviewStatus.OPEN,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    max_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$", description="Platform name contains")] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ItemsPage:
    """Review items, best score first, with both contacts and the matcher's explanation of each candidate."""
    return items_page(tenant_id, Filters(item_status, min_score, max_score, q), offset, limit)


@router.post("/review-items/{item_id}/decision", response_model=DecisionOut)
def decide_item(
    tenant_id: TenantId, item_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: DecisionIn, who: Caller
) -> DecisionOut:
    """Record a decision and act on it at once: a link plans its updates, "create" queues the write."""
    return apply_decision(tenant_id, item_id, body, body.by or who.name)


@router.post("/review-items/bulk-accept", response_model=BulkOut)
def bulk_accept_items(tenant_id: TenantId, body: BulkIn, who: Caller) -> BulkOut:
    """Link every open item whose best candidate scores at least `min_score`."""
    return apply_bulk(tenant_id, body, body.by or who.name)


@router.post("/review-sessions", status_code=status.HTTP_201_CREATED, response_model=SessionOut)
def create_review_session(tenant_id: TenantId, body: SessionIn, request: Request) -> SessionOut:
    """A signed, expiring URL of the review page for this tenant only, to embed in the app for its user."""
    ttl = body.ttl_seconds or get_settings().review_session_seconds
    token = issue_session(tenant_id, body.user, ttl)
    base = str(request.base_url).rstrip("/")
    return SessionOut(url=f"{base}/review?session={token}", expires_at=utcnow() + timedelta(seconds=ttl))


@router.delete("/review-sessions", status_code=status.HTTP_204_NO_CONTENT)
def revoke_review_sessions(tenant_id: TenantId) -> None:
    """Revoke every review-page session of this tenant issued until now (a leaked link, a person who left);
    sessions issued afterwards work as usual."""
    with db.session() as s:
        tenant = s.get(Tenant, tenant_id, with_for_update=True)
        if tenant is None:
            raise not_found("tenant")
        tenant.review_sessions_revoked_at = utcnow()
