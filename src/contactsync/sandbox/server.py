"""Running the sandbox: in a background thread for tests and demos, or in the foreground for the CLI.

`run_in_thread` binds the socket itself before uvicorn starts, so port 0 yields a free port with no race and
`.url` is known the moment the call returns. `serve_in_thread` does the same for any ASGI app (the API itself, a
receiver of pushed changes) that a test or benchmark runs beside the sandbox.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from types import TracebackType
from typing import Any, Self

import uvicorn

from contactsync.sandbox.app import create_app, new_state
from contactsync.sandbox.state import SandboxState


class ServerHandle:
    """An ASGI app serving on a background thread; stop it with `.stop()` or by leaving its `with` block."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket):
        self._server = server
        self._thread = thread
        self._sock = sock
        host, port = sock.getsockname()[:2]
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SandboxHandle(ServerHandle):
    """The sandbox serving on a background thread, with its state at hand for tests to arrange and inspect."""

    def __init__(self, served: ServerHandle, state: SandboxState):
        super().__init__(served._server, served._thread, served._sock)
        self.state = state


# The sandbox's uvicorn options beyond the app, host, port and log level. uvicorn's own Date header is off: the
# sandbox stamps its own (`_dated`).
_SANDBOX_OPTIONS: dict[str, Any] = {
    "access_log": False,
    "lifespan": "off",
    "timeout_keep_alive": 30,
    "date_header": False,
}


def _dated(app: Callable[..., Any]) -> Callable[..., Any]:
    """`app` with a Date header read from the clock as each response starts.

    uvicorn's Date is a copy its main loop refreshes every ten 0.1 s sleeps; on a loaded machine, or while a
    handler holds the loop, it falls more than 2 s behind, more than the second a real server's cached Date lags
    and that a walk allows for when it places a request in time (`maesn_walk`). Rows stamped just before the walk
    then look changed during it, and a page-number walk gives up after its passes."""

    async def dated(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        async def send_dated(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", formatdate(usegmt=True).encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_dated if scope["type"] == "http" else send)

    return dated


def serve_in_thread(
    app: Callable[..., Any],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    name: str = "asgi",
    log_level: str = "warning",
    **options: Any,
) -> ServerHandle:
    """Serve `app` on a daemon thread (further uvicorn options in `options`) and return once it accepts
    connections."""
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose protocol says TCP, and
    # without it every response waits out the peer's delayed ACK (~40 ms a request).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(app, host=host, port=sock.getsockname()[1], log_level=log_level, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} server did not start")
        time.sleep(0.01)
    return ServerHandle(server, thread, sock)


def run_in_thread(
    host: str = "127.0.0.1", port: int = 0, *, state: SandboxState | None = None, log_level: str = "warning"
) -> SandboxHandle:
    """Start a sandbox on a daemon thread and return once it accepts connections."""
    state = state or new_state()
    served = serve_in_thread(
        _dated(create_app(state)), host, port, name="sandbox", log_level=log_level, **_SANDBOX_OPTIONS
    )
    return SandboxHandle(served, state)


def serve(host: str = "127.0.0.1", port: int = 8765, *, log_level: str = "info") -> None:
    """Serve the sandbox in the foreground until interrupted (`contactsync sandbox --port N`)."""
    config = uvicorn.Config(
        _dated(create_app(new_state())), host=host, port=port, log_level=log_level, **_SANDBOX_OPTIONS
    )
    uvicorn.Server(config).run()
