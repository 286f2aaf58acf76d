"""API keys: created once (the caller sees the key that one time), kept as SHA-256 digests, revocable.

A key is 32 random bytes, so a fast hash is enough: password hashing (bcrypt, argon2) exists to slow down
guessing low-entropy secrets, and nobody can enumerate 2^256 keys, while a slow hash would cost every request.
The digest is looked up through a unique index, so checking a key is one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from contactsync.models import ApiKey
from contactsync.models.base import utcnow

KEY_PREFIX = "csk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: an admin key (`tenant_id` None) sees every tenant, a tenant key only its own."""

    key_id: int
    tenant_id: str | None

    @property
    def admin(self) -> bool:
        return self.tenant_id is None

    def may_see(self, tenant_id: str) -> bool:
        return self.tenant_id is None or self.tenant_id == tenant_id

    @property
    def name(self) -> str:
        return f"key:{self.key_id}"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def create_key(s: Session, tenant_id: str | None, label: str | None = None) -> tuple[ApiKey, str]:
    """A new key; returns the row and the key itself, which is not stored anywhere."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(prefix=key[:12], key_hash=digest(key), tenant_id=tenant_id, label=label)
    s.add(row)
    s.flush()
    return row, key


def authenticate(s: Session, key: str) -> Principal | None:
    """The principal of a valid, unrevoked key, else None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    row = s.scalar(select(ApiKey).where(ApiKey.key_hash == digest(key), ApiKey.revoked_at.is_(None)))
    return Principal(key_id=row.id, tenant_id=row.tenant_id) if row is not None else None


def list_keys(s: Session) -> list[ApiKey]:
    return list(s.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke(s: Session, key_id: int) -> bool:
    row = s.get(ApiKey, key_id)
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return True
