"""The webhook receiver: a provider says a tenant's contacts changed, and an incremental sync is requested.

A webhook is a hint, never the data: the sync that follows walks the provider as any scheduled run does (with
its look-back window), so a lost, late, duplicated or reordered webhook costs nothing but latency, and the
schedule stays the backstop. A webhook that arrives while the tenant's run is under way marks the tenant, and
the next run starts as soon as that one ends.

    POST /webhooks/{tenant_id}     the provider's signed body; 202 when accepted, 401 when the signature fails
"""

from __future__ import annotations

from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contactsync import db
from contactsync.logs import get_logger
from contactsync.models import Connection, Tenant
from contactsync.models.base import utcnow
from contactsync.providers.webhooks import (
    MAESN_SIGNATURE_HEADER,
    MERGE_SIGNATURE_HEADER,
    maesn_events,
    merge_events,
    verify_maesn_signature,
    verify_merge_signature,
)
from contactsync.store.tenants import vault

log = get_logger(__name__)
MAX_BODY = 1_000_000


def accept_webhook(tenant_id: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """Verify and act on one webhook; returns (HTTP status, reason). Plain function, so tests call it directly."""
    if len(body) > MAX_BODY:
        return 413, "body too large"
    with db.session() as s:
        conn = s.scalar(select(Connection).where(Connection.tenant_id == tenant_id))
        if conn is None:
            return 404, "unknown tenant"
        secret = str(vault().open(conn.credentials).get("webhook_secret") or "")
        if conn.dialect == "merge":
            valid = verify_merge_signature(body, headers.get(MERGE_SIGNATURE_HEADER.lower(), ""), secret)
        else:
            valid = verify_maesn_signature(body, headers.get(MAESN_SIGNATURE_HEADER.lower(), ""), secret)
        if not valid:
            return 401, "signature does not match"
        try:
            events = merge_events(body) if conn.dialect == "merge" else maesn_events(body)
        except ValueError:
            return 400, "body is not JSON"
        if not events:
            return 202, "no contact event"
        tenant = s.get(Tenant, tenant_id)
        assert tenant is not None
        now = utcnow()
        tenant.sync_requested_at = now
        if tenant.next_sync_at is None or tenant.next_sync_at > now:
            tenant.next_sync_at = now
    log.info("webhook accepted", tenant_id=tenant_id, events=[e.event for e in events])
    from contactsync.tasks.schedule import start_due_runs  # the Celery app is only needed once one is accepted

    start_due_runs(tenant_id, trigger="webhook")
    return 202, "sync requested"


async def _webhook(request: Request) -> Response:
    body = await request.body()
    tenant_id = request.path_params["tenant_id"]
    headers = {k.lower(): v for k, v in request.headers.items()}
    from starlette.concurrency import run_in_threadpool

    status, reason = await run_in_threadpool(accept_webhook, tenant_id, body, headers)
    return JSONResponse({"status": reason}, status_code=status)


def create_receiver_app() -> Starlette:
    return Starlette(routes=[Route("/webhooks/{tenant_id}", _webhook, methods=["POST"])])
