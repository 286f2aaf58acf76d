"""Sync runs: list, detail with counters and errors, and starting one now."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from contactsync import db
from contactsync.api.deps import TenantId, not_found
from contactsync.api.schemas import RunOut
from contactsync.models import QuarantinedRecord, SyncRun, WriteOp
from contactsync.states import WriteState

router = APIRouter(prefix="/v1/tenants/{tenant_id}/runs", tags=["runs"])


class RunDetail(RunOut):
    quarantined_records: list[dict[str, str | None]]
    failed_writes: list[dict[str, str | int | None]]


class TriggerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["incremental", "full"] = "incremental"


class Triggered(BaseModel):
    run_id: int


@router.get("", response_model=list[RunOut])
def list_runs(
    tenant_id: TenantId,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    before: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only runs with a lower id.")] = None,
) -> list[RunOut]:
    with db.session() as s:
        query = select(SyncRun).where(SyncRun.tenant_id == tenant_id).order_by(SyncRun.id.desc()).limit(limit)
        if before is not None:
            query = query.where(SyncRun.id < before)
        return [RunOut.of(r) for r in s.scalars(query)]


@router.get("/{run_id}", response_model=RunDetail)
def get_run(tenant_id: TenantId, run_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> RunDetail:
    with db.session() as s:
        run = s.scalar(select(SyncRun).where(SyncRun.id == run_id, SyncRun.tenant_id == tenant_id))
        if run is None:
            raise not_found("no such run")
        quarantined = s.scalars(
            select(QuarantinedRecord).where(QuarantinedRecord.run_id == run.id).order_by(QuarantinedRecord.id).limit(50)
        )
        failed = s.scalars(
            select(WriteOp)
            .where(WriteOp.run_id == run.id, WriteOp.status == WriteState.FAILED)
            .order_by(WriteOp.id)
            .limit(50)
        )
        return RunDetail(
            **RunOut.of(run).model_dump(),
            quarantined_records=[{"remote_id": q.remote_id, "reason": q.reason} for q in quarantined],
            failed_writes=[
                {"kind": w.kind, "attempts": w.attempts, "reason": w.last_error, "remote_id": w.remote_id}
                for w in failed
            ],
        )


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Triggered)
def trigger_run(tenant_id: TenantId, body: TriggerIn) -> Triggered:
    """Start a sync now; 409 when the tenant has one under way, is paused, or has no connection."""
    from contactsync.tasks.schedule import TenantPaused, trigger_sync

    # Each refusal is decided where the run starts, in its transaction: the connection, the pause (read
    # share-locked, so a pause committed meanwhile is honoured) and the tenant's one active run (its lease).
    try:
        run_id = trigger_sync(tenant_id, full=body.kind == "full", trigger="api", unless_paused=True)
    except LookupError:
        raise HTTPException(status.HTTP_409_CONFLICT, "the tenant has no connection") from None
    except TenantPaused:
        raise HTTPException(status.HTTP_409_CONFLICT, "the tenant is paused; resume it first") from None
    if run_id is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "a run is under way")
    return Triggered(run_id=run_id)
