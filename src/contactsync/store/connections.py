"""A connection's status, changed in one place (lost authorisation pauses it, a reconnection makes it active),
and its options, replaced only with options its dialect takes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contactsync.models import Connection
from contactsync.providers.registry import check_options
from contactsync.states import ConnectionStatus


def set_connection_status(conn: Connection, status: ConnectionStatus, reason: str | None = None) -> None:
    """Any status may follow any other (an operator may disable or re-enable a connection at any time); the
    reason is kept only with a status that is not active, where a person needs it."""
    conn.status = status
    conn.status_reason = None if status is ConnectionStatus.ACTIVE else (reason or None)


def reactivate(conn: Connection) -> None:
    """New credentials (or a new endpoint) may cure lost authorisation: the next run will tell."""
    set_connection_status(conn, ConnectionStatus.ACTIVE)


def lost_authorisation(conn: Connection, reason: str) -> None:
    set_connection_status(conn, ConnectionStatus.NEEDS_REAUTH, reason[:2000])


def set_options(conn: Connection, given: Mapping[str, Any]) -> None:
    """Replace the connection's options; `OptionsError` (and nothing changed) if its dialect cannot take them."""
    conn.options = check_options(conn.dialect, given).stored()
