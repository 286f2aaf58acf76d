"""Review sessions: a signed, expiring token in the review page's URL, scoped to one tenant and one user.

Fernet (already how credentials are sealed) gives an authenticated, timestamped token from the deployment's
secret key, so nothing is stored server-side and a session cannot be forged, moved to another tenant, or used
after its time-to-live.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from contactsync.settings import get_settings


@dataclass(frozen=True)
class ReviewSession:
    tenant_id: str
    user: str


def _fernet() -> MultiFernet:
    key = get_settings().secret_key or ""
    return MultiFernet([Fernet(k.strip().encode()) for k in key.split(",") if k.strip()])


def issue_session(tenant_id: str, user: str, ttl_seconds: int | None = None) -> str:
    ttl = ttl_seconds or get_settings().review_session_seconds
    blob = json.dumps({"t": tenant_id, "u": user, "ttl": ttl}).encode()
    return _fernet().encrypt(blob).decode()


def open_session(token: str) -> ReviewSession | None:
    """The session a token names, or None when it is forged, garbled or expired."""
    if not token or len(token) > 4000 or not token.isascii():
        return None
    try:
        fernet = _fernet()
        data = json.loads(fernet.decrypt(token.encode()))
        # The token's own ttl, checked against the time Fernet sealed into it.
        fernet.decrypt(token.encode(), ttl=int(data["ttl"]))
        return ReviewSession(tenant_id=str(data["t"]), user=str(data["u"]))
    except (InvalidToken, ValueError, KeyError, TypeError):
        return None
