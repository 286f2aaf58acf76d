"""A local stand-in for the unified accounting APIs (Merge and Maesn dialects) for tests, demos, benchmarks.

Importable (`create_app`, `run_in_thread`) and runnable (`serve`, behind `contactsync sandbox --port N`).
"""

from contactsync.sandbox.app import create_app, new_state
from contactsync.sandbox.server import SandboxHandle, run_in_thread, serve
from contactsync.sandbox.state import Account, Faults, SandboxState

__all__ = ["Account", "Faults", "SandboxHandle", "SandboxState", "create_app", "new_state", "run_in_thread", "serve"]
