"""The changes feed out: everything the app must apply to keep its tables up to date, cursor-paged.

The cursor is the sequence number of the last change read (`after`); numbers increase by one per change and
are only ever seen in order (see `store.changes`), so reading from a cursor never skips or repeats a change, and
two readers from the same cursor see the same sequence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from contactsync import db
from contactsync.api.deps import TenantId
from contactsync.store import changes

router = APIRouter(prefix="/v1/tenants/{tenant_id}/changes", tags=["changes"])


class ChangeOut(BaseModel):
    seq: int
    kind: str = Field(
        description="fields_changed | platform_only | archived | deleted | linked | unlinked | remote_id_assigned"
    )
    app_id: str | None
    remote_id: str | None
    data: dict[str, Any]
    created_at: datetime


class ChangesPage(BaseModel):
    changes: list[ChangeOut]
    next_after: int = Field(description="Pass as `after` to read on from here.")
    has_more: bool


@router.get("", response_model=ChangesPage)
def read_changes(
    tenant_id: TenantId,
    after: Annotated[int, Query(ge=0, le=2**62, description="The last sequence number read; 0 = start.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ChangesPage:
    with db.session() as s:
        rows = changes.read(s, tenant_id, after, limit + 1)
    page = rows[:limit]
    return ChangesPage(
        changes=[
            ChangeOut(
                seq=r.seq, kind=r.kind, app_id=r.app_id, remote_id=r.remote_id, data=r.data, created_at=r.created_at
            )
            for r in page
        ],
        next_after=page[-1].seq if page else after,
        has_more=len(rows) > limit,
    )
