"""A scripted HTTP server for `httpx.MockTransport`, for wire shapes the sandbox does not produce."""

from __future__ import annotations

from collections.abc import Callable

import httpx


class Server:
    """A scripted server: `handler(request)` answers; every request is kept for assertions."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)
