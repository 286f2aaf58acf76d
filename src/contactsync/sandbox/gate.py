"""What happens to every dialect request before and after its handler: auth, counting, 429s, injected faults.

Faults are injected here rather than in the handlers so both dialects misbehave identically and a fault never
depends on which endpoint was hit. A dropped connection is produced by starting a response and abandoning it:
the server then closes the socket and the client sees the connection die mid-answer, the same way a reset or
a proxy timeout looks from the outside.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from contactsync.sandbox.state import Account, SandboxState

Handler = Callable[[Request, Account], Awaitable[Response]]

_ABANDONED = "ASGI callable returned without completing response."


class DroppedResponse(Response):
    """Start an answer and walk away from it, so the server closes the connection mid-response."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b"{", "more_body": True})


class _QuietAbandon(logging.Filter):
    """Drop the server's complaint about responses abandoned on purpose; everything else still logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _ABANDONED not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_QuietAbandon())


def rate_limit_response(
    account: Account, wait: float, error: Callable[[int, str], Response], problem: str = "minute"
) -> Response:
    """A 429 in the account's style; `problem` is the limit hit, as Xero names it ("minute", "concurrent")."""
    if problem == "concurrent":
        response = error(429, "Too many requests in progress for this account at once.")
    else:
        response = error(429, "Too many requests for this account; slow down.")
    style = account.rate_limit_headers
    seconds = str(max(1, round(wait + 0.4999)))
    if style == "retry-after":
        response.headers["Retry-After"] = seconds
    elif style == "xero":
        response.headers["X-Rate-Limit-Problem"] = problem
        response.headers["X-MinLimit-Remaining"] = "0"
        response.headers["Retry-After"] = seconds
    return response


async def gated(
    request: Request,
    state: SandboxState,
    route: str,
    *,
    token: str | None,
    key_ok: Callable[[Account], bool],
    error: Callable[[int, str], Response],
    handler: Handler,
    is_write: bool = False,
) -> Response:
    """Run `handler` for the account behind `token` if auth, rate limit and the dice allow it."""
    account = state.get(token) if token else None
    if account is None:
        return error(401, "Invalid or missing account token.")
    wait = account.admit(route, time.monotonic())
    if not key_ok(account):
        return error(401, "Invalid API key.")
    if account.revoked:
        return error(403, "The linked account's credentials are no longer valid; re-link the account.")
    if wait is not None:
        return rate_limit_response(account, wait, error)
    if account.faults.throttle_rate and _chance(account, account.faults.throttle_rate, "429"):
        return rate_limit_response(account, 0.5, error)
    if not account.enter():
        return rate_limit_response(account, 1.0, error, problem="concurrent")
    try:
        return await _served(request, account, handler, error, is_write)
    finally:
        account.leave()


async def _served(
    request: Request, account: Account, handler: Handler, error: Callable[[int, str], Response], is_write: bool
) -> Response:
    """The request past auth and limits: the injected faults around its handler."""
    if is_write:
        await _stall(account)
    faults = account.faults
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000.0)
    with account.lock:
        reset = account.rng.random() < faults.reset_rate if faults.reset_rate else False
        failed = account.rng.random() < faults.error_rate if faults.error_rate else False
        dropped = is_write and faults.drop_after_commit_rate and account.rng.random() < faults.drop_after_commit_rate
        late_error = (
            is_write and faults.error_after_commit_rate and account.rng.random() < faults.error_after_commit_rate
        )
    if reset:
        account.injected["reset"] += 1
        return DroppedResponse()
    if failed:
        account.injected["503"] += 1
        return error(503, "The accounting platform did not answer in time.")
    response = await handler(request, account)
    if dropped and response.status_code < 300:
        account.injected["dropped answer"] += 1
        return DroppedResponse()
    if late_error and response.status_code < 300:
        account.injected["503 after commit"] += 1
        return error(503, "The accounting platform did not answer in time.")
    return response


async def _stall(account: Account, longest: float = 120.0) -> None:
    """Hold a write while the account's write path is stalled; never longer than `longest`, so a test that
    forgets to lift the fault fails on its own assertions rather than hanging."""
    with account.lock:
        seen = account.writes_admitted
        account.writes_admitted += 1
        if 0 <= account.faults.stall_writes_after <= seen:
            account.injected["stalled write"] += 1
    deadline = time.monotonic() + longest
    while 0 <= account.faults.stall_writes_after <= seen and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def _chance(account: Account, rate: float, kind: str) -> bool:
    with account.lock:
        hit = account.rng.random() < rate
        if hit:
            account.injected[kind] += 1
        return hit
