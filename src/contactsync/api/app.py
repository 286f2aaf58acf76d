"""The one ASGI app: the versioned API under /v1, the review page, provider webhooks, OpenAPI and docs."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError

from contactsync.api import changes, connect, contacts, page, push, review, runs, tenants, webhooks
from contactsync.api.page import HERE
from contactsync.providers.options import OptionsError

DESCRIPTION = """Keeps your app's contacts in sync with your tenants' accounting platforms.

Authenticate with `Authorization: Bearer <key>` (`contactsync keys create`). A tenant key sees only its tenant;
another tenant's objects answer 404. Push your contacts with `PUT /v1/tenants/{t}/contacts`, read what changed in
the books with `GET /v1/tenants/{t}/changes?after=<cursor>`.
"""


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with pydantic's field paths; input values are left out (they may be secrets or megabytes)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    return JSONResponse({"detail": detail}, status_code=422)


async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    """Text PostgreSQL cannot hold (NUL characters, lone surrogates) or a value outside a column's range is the
    caller's input, not a server failure: 422, whichever route and field it came through."""
    return JSONResponse({"detail": "a value cannot be stored (NUL character, invalid text or out of range)"}, 422)


async def _bad_options(request: Request, exc: Exception) -> JSONResponse:
    """Connection options the dialect cannot take (they are checked against the connection's dialect, which the
    request body alone may not say): 422, with the option named."""
    return JSONResponse({"detail": str(exc)}, status_code=422)


class _RedactSessions(logging.Filter):
    """Review-session tokens travel in the page's URL; access logs keep the path but not the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SESSION.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args)
        return True


_SESSION = re.compile(r"(session=)[^&\s]+")


def create_app() -> FastAPI:
    app = FastAPI(title="contactsync", version="1.0.0", description=DESCRIPTION)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactSessions) for f in access.filters):
        access.addFilter(_RedactSessions())
    for module in (tenants, connect, contacts, changes, push, runs, review, webhooks, page):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(UnicodeEncodeError, _unstorable)
    app.add_exception_handler(OptionsError, _bad_options)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus exposition: every local contactsync process's counters plus the database and queue gauges.
        Unauthenticated like any scrape target: keep the port off the public network (see docs/operations.md)."""
        from contactsync.metrics.exposition import render

        body, content_type = render()
        return Response(body, media_type=content_type)

    return app
