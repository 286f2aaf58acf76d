"""Serving the metrics: one registry over the multiprocess directory, as text, an ASGI app, or a port.

`asgi_app()` is what an HTTP app mounts at `/metrics`; `contactsync metrics --port` serves the same without one,
and `contactsync worker --metrics-port` serves only the worker's own process metrics (no database gauges), so a
worker pod can be scraped on its own while the database gauges come from exactly one place.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from contactsync.metrics import multiproc_dir
from contactsync.metrics.state import StateCollector


def registry(*, include_state: bool = True) -> CollectorRegistry:
    """Every process's values from the shared directory, plus (by default) the database and queue gauges."""
    reg = CollectorRegistry()
    MultiProcessCollector(reg, path=str(multiproc_dir()))  # type: ignore[no-untyped-call]
    if include_state:
        reg.register(StateCollector())
    return reg


def render(*, include_state: bool = True) -> tuple[bytes, str]:
    """The exposition text and its content type, for any web framework's handler."""
    return generate_latest(registry(include_state=include_state)), CONTENT_TYPE_LATEST


def asgi_app(*, include_state: bool = True) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app answering any HTTP request with the exposition: mount it at `/metrics` or serve it alone.

    A plain Starlette `Response` rather than prometheus-client's own ASGI app, which rejects the lifespan
    messages a server sends first and, mounted, only answers `/metrics/`.
    """
    reg = registry(include_state=include_state)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = await run_in_threadpool(generate_latest, reg)  # the database gauges block
        await Response(body, media_type=CONTENT_TYPE_LATEST)(scope, receive, send)

    return app


def serve_in_thread(port: int, host: str = "0.0.0.0", *, include_state: bool = False) -> threading.Thread:
    """A daemon HTTP server on `port` (prometheus-client's own), for a process that has no web app."""
    from prometheus_client import start_http_server

    _server, thread = start_http_server(port, addr=host, registry=registry(include_state=include_state))
    return thread
