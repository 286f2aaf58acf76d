"""Provider webhooks over HTTP: the body is read while it streams, with a hard limit, never whole first.

    POST /webhooks/merge             Merge's deployment-wide webhook; the event names the tenant (origin id)
    POST /webhooks/maesn?tenant=T    a Maesn subscription made with this tenant's callback URL
    POST /webhooks/{tenant_id}       the per-tenant URL (either provider)

Verification and what follows are in `contactsync.receiver`; every answer here is 2xx or 4xx whatever arrives.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from contactsync.receiver import REFUSED, Verdict, accept_webhook, tenant_named_by
from contactsync.settings import get_settings

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, or TooLarge as soon as more than `limit` bytes were announced or have arrived.

    Hand-written because neither uvicorn nor Starlette has a body size limit: `request.body()` would hold a
    150 MB body in memory before any check could look at it. Stopping here stops reading the socket, and uvicorn
    closes the connection after the answer.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(verdict: Verdict) -> JSONResponse:
    return JSONResponse({"status": verdict.reason}, status_code=verdict.status)


async def _receive(request: Request, tenant_id: str | None, dialect: str | None) -> JSONResponse:
    try:
        body = await read_limited(request, get_settings().webhook_max_bytes)
    except TooLarge:
        return JSONResponse({"status": "body too large"}, status_code=413, headers={"Connection": "close"})
    if tenant_id is None and dialect is not None:
        tenant_id = tenant_named_by(dialect, body)
    if tenant_id is None or not _TENANT.match(tenant_id):
        return _answer(Verdict(*REFUSED))
    headers = {k.lower(): v for k, v in request.headers.items()}
    return _answer(await run_in_threadpool(accept_webhook, tenant_id, body, headers, dialect))


@router.post("/merge", summary="Merge webhook (deployment-wide)")
async def merge_webhook(request: Request) -> JSONResponse:
    return await _receive(request, None, "merge")


@router.post("/maesn", summary="Maesn webhook")
async def maesn_webhook(
    request: Request, tenant: Annotated[str, Query(max_length=64, description="The tenant the subscription is for")]
) -> JSONResponse:
    return await _receive(request, tenant, "maesn")


@router.post("/{tenant_id}", summary="Per-tenant webhook (either provider)")
async def tenant_webhook(request: Request, tenant_id: str) -> JSONResponse:
    return await _receive(request, tenant_id, None)
