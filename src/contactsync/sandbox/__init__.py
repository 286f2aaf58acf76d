"""A local stand-in for the unified accounting APIs (Merge and Maesn dialects) for tests, demos, benchmarks.

Importable (`create_app`, `run_in_thread`; `serve_in_thread` for any other ASGI app beside it) and runnable
(`serve`, behind `contactsync sandbox --port N`).
"""

from contactsync.sandbox.app import create_app, new_state
from contactsync.sandbox.faults import Faults
from contactsync.sandbox.server import SandboxHandle, ServerHandle, run_in_thread, serve, serve_in_thread
from contactsync.sandbox.state import Account, SandboxState

__all__ = [
    "Account",
    "Faults",
    "SandboxHandle",
    "SandboxState",
    "ServerHandle",
    "create_app",
    "new_state",
    "run_in_thread",
    "serve",
    "serve_in_thread",
]
