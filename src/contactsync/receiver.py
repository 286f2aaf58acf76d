"""Provider webhooks: verify, deduplicate, and request an incremental sync of the tenant.

A webhook is a hint, never the data: the sync that follows walks the provider as any scheduled run does (with
its look-back window), so a lost, late, duplicated or reordered webhook costs nothing but latency, and the
schedule stays the backstop. A webhook that arrives while the tenant's run is under way marks the tenant, and
the next run starts as soon as that one ends.

What an unauthenticated sender can learn or cause is kept to nothing: an unknown tenant and a bad signature get
the same answer, a replayed delivery (same signature and body within the replay window) is acknowledged and does
nothing, and a Merge event must name the linked account this tenant connected. The HTTP side (streamed body
with a hard limit) lives in `contactsync.api.webhooks`; this module is plain functions over bytes and headers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import select

from contactsync import db
from contactsync.logs import get_logger
from contactsync.models import Connection, Tenant
from contactsync.models.base import utcnow
from contactsync.providers.registry import dialect_of
from contactsync.redis_keys import webhook_seen_key
from contactsync.settings import get_settings
from contactsync.store.tenants import vault

log = get_logger(__name__)
REFUSED = (401, "unknown tenant or signature does not match")


@dataclass(frozen=True)
class Verdict:
    status: int
    reason: str


def parse_json(body: bytes) -> Any:
    """The body as JSON, or ValueError for anything else (deep nesting included, which json reports as a
    RecursionError)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise ValueError("body is not JSON") from None


def _first_delivery(tenant_id: str, body: bytes) -> bool:
    """Whether this verified body is new for the tenant within the replay window. The signature is a function of
    the body, so the body alone identifies a delivery (and re-encoding the signature does not make it new)."""
    settings = get_settings()
    digest = hashlib.sha256(tenant_id.encode() + b"\0" + body).hexdigest()
    client = redis.Redis.from_url(settings.require_redis_url())
    try:
        key = webhook_seen_key(settings.redis_prefix, digest)
        return bool(client.set(key, b"1", nx=True, ex=settings.webhook_replay_seconds))
    finally:
        client.close()


def tenant_named_by(dialect: str, body: bytes) -> str | None:
    """The tenant an event to the dialect's deployment-wide endpoint is for (None: unknown, or the dialect has no
    such endpoint: its webhook URLs name the tenant)."""
    tenant_of = dialect_of(dialect).webhooks.tenant_of
    if tenant_of is None:
        return None
    try:
        return tenant_of(parse_json(body))
    except ValueError:
        return None


def accept_webhook(tenant_id: str, body: bytes, headers: dict[str, str], dialect: str | None = None) -> Verdict:
    """Verify and act on one webhook (headers with lower-case names). `dialect` pins the expected provider."""
    if any(not v.isascii() for v in headers.values()):
        return Verdict(*REFUSED)
    with db.session() as s:
        conn = s.scalar(select(Connection).where(Connection.tenant_id == tenant_id))
        if conn is None or (dialect is not None and conn.dialect != dialect):
            return Verdict(*REFUSED)
        secrets = vault().open(conn.credentials)
        secret = str(secrets.get("webhook_secret") or "")
        hooks = dialect_of(conn.dialect).webhooks
        if not hooks.verify(body, headers.get(hooks.signature_header.lower(), ""), secret):
            return Verdict(*REFUSED)
        try:
            payload = parse_json(body)
            events = hooks.events(body)
        except (ValueError, TypeError, AttributeError, RecursionError):
            return Verdict(400, "body is not a webhook event")
        if not hooks.for_account(payload, secrets):
            return Verdict(403, "the event names another linked account")
        if not events:
            return Verdict(202, "no contact event")
        if not _first_delivery(tenant_id, body):
            return Verdict(202, "duplicate delivery")
        tenant = s.get(Tenant, tenant_id)
        assert tenant is not None
        now = utcnow()
        tenant.sync_requested_at = now
        if tenant.next_sync_at is None or tenant.next_sync_at > now:
            tenant.next_sync_at = now
    log.info("webhook accepted", tenant_id=tenant_id, events=[e.event for e in events])
    from contactsync.tasks.schedule import start_due_runs  # the Celery app is only needed once one is accepted

    start_due_runs(tenant_id, trigger="webhook")
    return Verdict(202, "sync requested")
