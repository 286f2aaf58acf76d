"""Review sessions: a signed, expiring token in the review page's URL, scoped to one tenant and one user.

Fernet (already how credentials are sealed) gives an authenticated, timestamped token from the deployment's
secret key, so nothing is stored server-side and a session cannot be forged, moved to another tenant, or used
after its time-to-live. Revoking is the one piece of state: a tenant's `review_sessions_revoked_at` refuses every
session issued up to that moment (the token carries its own issue time, finer than Fernet's whole seconds, so a
session issued right after a revocation works).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from contactsync.settings import get_settings


@dataclass(frozen=True)
class ReviewSession:
    tenant_id: str
    user: str
    issued_at: float | None  # seconds since the epoch; None in tokens issued before sessions could be revoked


def _fernet() -> MultiFernet:
    key = get_settings().secret_key or ""
    return MultiFernet([Fernet(k.strip().encode()) for k in key.split(",") if k.strip()])


def issue_session(tenant_id: str, user: str, ttl_seconds: int | None = None) -> str:
    ttl = ttl_seconds or get_settings().review_session_seconds
    blob = json.dumps({"t": tenant_id, "u": user, "ttl": ttl, "iat": time.time()}).encode()
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
        issued = data.get("iat")
        return ReviewSession(
            tenant_id=str(data["t"]), user=str(data["u"]), issued_at=float(issued) if issued is not None else None
        )
    except (InvalidToken, ValueError, KeyError, TypeError):
        return None


def revoked(session: ReviewSession, revoked_at: datetime | None) -> bool:
    """Whether the tenant revoked its sessions after this one was issued (a token without an issue time is
    revoked by any revocation)."""
    if revoked_at is None:
        return False
    return session.issued_at is None or session.issued_at <= revoked_at.timestamp()
