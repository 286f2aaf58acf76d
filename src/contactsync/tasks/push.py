"""Pushing the changes feed to the app: signed POSTs in sequence order, retried with backoff by Celery.

Sent after a transaction that recorded changes commits (see `store.changes`), to the tenant's queue. Each call
delivers every pending batch to every target of the tenant; a failure is retried with exponential backoff, and
until then later changes wait behind the failed batch (order is the point of the feed).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from contactsync import db
from contactsync.logs import get_logger
from contactsync.models import PushTarget
from contactsync.settings import get_settings
from contactsync.store import changes
from contactsync.store.push import SIGNATURE_HEADER, lock_cursor, secret_of, sign, targets_of
from contactsync.worker.app import INFRA_RETRY, bound_celery_task
from contactsync.worker.routing import enqueue

log = get_logger(__name__)
BATCH = 100


class DeliveryFailed(Exception):
    pass


def request_push(tenant_id: str) -> None:
    enqueue(push_changes, tenant_id)


@bound_celery_task("contactsync.push", **{**INFRA_RETRY, "max_retries": 30})
def push_changes(self: Any, tenant_id: str) -> int:
    delivered = 0
    try:
        with db.session() as s:
            target_ids = targets_of(s, tenant_id)
        for target_id in target_ids:
            delivered += _deliver(target_id, tenant_id)
    except DeliveryFailed as exc:
        wait = min(600.0, get_settings().push_retry_seconds * 2**self.request.retries)
        log.warning("push failed; retrying", tenant_id=tenant_id, error=str(exc), retry_in=wait)
        raise self.retry(exc=exc, countdown=wait) from None
    return delivered


def _deliver(target_id: int, tenant_id: str) -> int:
    """Send batches until the target has everything; returns how many changes were delivered."""
    sent = 0
    while True:
        with db.session() as s:
            cursor = lock_cursor(s, target_id, tenant_id)
            target = s.get(PushTarget, target_id)
            if cursor is None or target is None:
                return sent
            batch = changes.read(s, tenant_id, cursor.delivered_seq, BATCH)
            if not batch:
                return sent
            body = _body(tenant_id, batch)
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret_of(target), body)}
            try:
                answer = httpx.post(target.url, content=body, headers=headers, timeout=10)
            except httpx.HTTPError as exc:
                raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
            if not 200 <= answer.status_code < 300:
                raise DeliveryFailed(f"answered {answer.status_code}")
            cursor.delivered_seq = batch[-1].seq
            sent += len(batch)


def _body(tenant_id: str, batch: list[Any]) -> bytes:
    items = [
        {
            "seq": c.seq,
            "kind": c.kind,
            "app_id": c.app_id,
            "remote_id": c.remote_id,
            "data": c.data,
            "created_at": c.created_at.isoformat(),
        }
        for c in batch
    ]
    return json.dumps({"tenant_id": tenant_id, "changes": items}, separators=(",", ":")).encode()
