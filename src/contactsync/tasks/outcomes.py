"""What tasks share when a call fails or succeeds: counting calls, backing off, pausing for re-authorisation."""

from __future__ import annotations

import random

from contactsync import db
from contactsync.models import ACTIVE_RUN_STATES, Connection, RunStatus
from contactsync.store.connections import lost_authorisation
from contactsync.store.runs import lock_run, transition_run


def retry_delay(retries: int, base: float = 1.0, cap: float = 120.0) -> float:
    """Exponential backoff with full jitter, so retries from many workers do not arrive in lock-step."""
    return random.uniform(0, min(cap, base * 2**retries))


def pause_for_reauth(tenant_id: str, run_id: int, connection_id: int, reason: str) -> None:
    """Mark the connection as needing re-authorisation and pause the run: visible, and not retried forever."""
    with db.session() as s:
        conn = s.get(Connection, connection_id)
        if conn is not None and conn.tenant_id == tenant_id:
            lost_authorisation(conn, reason)
        run = lock_run(s, tenant_id, run_id)
        if run is not None and run.status in ACTIVE_RUN_STATES:
            transition_run(s, run, RunStatus.PAUSED, f"re-authorisation needed: {reason}"[:2000])
