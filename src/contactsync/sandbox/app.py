"""The sandbox ASGI app: both dialects and the admin API over one shared `SandboxState`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contactsync.sandbox.admin import Admin
from contactsync.sandbox.merge_api import MergeDialect
from contactsync.sandbox.merge_link import MergeLink
from contactsync.sandbox.state import SandboxState


async def _health(request: Request) -> Response:
    return JSONResponse({"ok": True})


def create_app(state: SandboxState | None = None) -> Starlette:
    state = state or SandboxState()
    routes: list[Route] = [Route("/_sandbox/health", _health, methods=["GET"])]
    routes += Admin(state).routes()
    routes += MergeDialect(state).routes()
    routes += MergeLink(state).routes()
    try:
        from contactsync.sandbox.maesn_api import MaesnDialect
    except ImportError:  # pragma: no cover - the Maesn dialect is optional during bring-up
        pass
    else:
        routes += MaesnDialect(state).routes()
    app = Starlette(routes=routes)
    app.state.sandbox = state
    return app
