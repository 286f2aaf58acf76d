"""The sandbox ASGI app: both dialects and the admin API over one shared `SandboxState`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contactsync.sandbox.admin import Admin
from contactsync.sandbox.maesn_api import MaesnDialect
from contactsync.sandbox.merge_api import MergeDialect
from contactsync.sandbox.merge_link import MergeLink
from contactsync.sandbox.state import SandboxState
from contactsync.sandbox.webhooks import WebhookSender


async def _health(request: Request) -> Response:
    return JSONResponse({"ok": True})


def new_state() -> SandboxState:
    """An empty sandbox whose accounts send their webhooks (to the targets their settings name)."""
    return SandboxState(webhooks=WebhookSender())


def create_app(state: SandboxState | None = None) -> Starlette:
    state = state or new_state()
    routes: list[Route] = [Route("/_sandbox/health", _health, methods=["GET"])]
    routes += Admin(state).routes()
    routes += MergeDialect(state).routes()
    routes += MergeLink(state).routes()
    routes += MaesnDialect(state).routes()
    app = Starlette(routes=routes)
    app.state.sandbox = state
    return app
