"""Push targets: where a tenant's changes (or every tenant's) are POSTed, and how far each delivery got.

Deliveries are at-least-once and in sequence order: a batch is sent, and only an answer in 2xx moves the
target's cursor, so a lost answer means the same batch is sent again (the receiver keeps the highest `seq` it
applied and skips what it has). The cursor row is locked for the length of one delivery, so two workers never
deliver to the same target and tenant at once, and never out of order.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from contactsync.models import PushCursor, PushTarget
from contactsync.store.tenants import vault

SIGNATURE_HEADER = "X-Contactsync-Signature"


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the timestamp is signed too, so a receiver can
    refuse old deliveries replayed by someone who recorded one. Written out (a few lines of `hmac`) because this
    is the scheme receivers already know from Stripe-style webhooks, and no library defines it on its own."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def set_target(s: Session, tenant_id: str | None, url: str, secret: str) -> PushTarget:
    """Register (or replace) the tenant's target, or the global one when `tenant_id` is None."""
    s.execute(delete(PushTarget).where(_owner(tenant_id)))
    target = PushTarget(tenant_id=tenant_id, url=url, secret=vault().seal({"secret": secret}))
    s.add(target)
    s.flush()
    return target


def remove_target(s: Session, tenant_id: str | None) -> bool:
    return bool(s.scalars(delete(PushTarget).where(_owner(tenant_id)).returning(PushTarget.id)).all())


def get_target(s: Session, tenant_id: str | None) -> PushTarget | None:
    return s.scalar(select(PushTarget).where(_owner(tenant_id)))


def _owner(tenant_id: str | None) -> ColumnElement[bool]:
    return PushTarget.tenant_id.is_(None) if tenant_id is None else PushTarget.tenant_id == tenant_id


def targets_of(s: Session, tenant_id: str) -> list[int]:
    """The tenant's own target and the global one, if any."""
    return list(
        s.scalars(
            select(PushTarget.id)
            .where(or_(PushTarget.tenant_id == tenant_id, PushTarget.tenant_id.is_(None)))
            .order_by(PushTarget.id)
        )
    )


def secret_of(target: PushTarget) -> str:
    return str(vault().open(target.secret)["secret"])


def lock_cursor(s: Session, target_id: int, tenant_id: str) -> PushCursor | None:
    """The delivery cursor, locked until the transaction ends (waiting for a delivery under way); None when the
    target is gone."""
    if s.get(PushTarget, target_id) is None:
        return None
    s.execute(
        pg_insert(PushCursor).values(target_id=target_id, tenant_id=tenant_id, delivered_seq=0).on_conflict_do_nothing()
    )
    return s.scalar(
        select(PushCursor)
        .where(PushCursor.target_id == target_id, PushCursor.tenant_id == tenant_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
