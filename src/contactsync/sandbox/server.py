"""Running the sandbox: in a background thread for tests and demos, or in the foreground for the CLI.

`run_in_thread` binds the socket itself before uvicorn starts, so port 0 yields a free port with no race and
`.url` is known the moment the call returns.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from contactsync.sandbox.app import create_app, new_state
from contactsync.sandbox.state import SandboxState


class SandboxHandle:
    """A sandbox serving on a background thread; stop it with `.stop()` or by leaving its `with` block."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, sock: socket.socket, state: SandboxState):
        self._server = server
        self._thread = thread
        self._sock = sock
        self.state = state
        host, port = sock.getsockname()[:2]
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _config(state: SandboxState, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(state),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
    )


def run_in_thread(
    host: str = "127.0.0.1", port: int = 0, *, state: SandboxState | None = None, log_level: str = "warning"
) -> SandboxHandle:
    """Start a sandbox on a daemon thread and return once it accepts connections."""
    state = state or new_state()
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose protocol says TCP, and
    # without it every response waits out the peer's delayed ACK (~40 ms a request).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(_config(state, host, sock.getsockname()[1], log_level))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10.0
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    return SandboxHandle(server, thread, sock, state)


def serve(host: str = "127.0.0.1", port: int = 8765, *, log_level: str = "info") -> None:
    """Serve the sandbox in the foreground until interrupted (`contactsync sandbox --port N`)."""
    uvicorn.Server(_config(new_state(), host, port, log_level)).run()
