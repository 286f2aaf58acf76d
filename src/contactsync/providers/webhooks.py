"""Verifying and reading webhooks from the unified APIs.

A webhook only says "look again": the fetch it triggers still walks the provider, so a forged or lost webhook
can at worst cost a walk. Verification still matters because an unverified endpoint lets anyone make us burn
the tenant's rate limit. Signatures are compared in constant time over the raw body exactly as received.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

MERGE_SIGNATURE_HEADER = "X-Merge-Webhook-Signature"
MAESN_SIGNATURE_HEADER = "X-MAESN-SIGNATURE"


def verify_merge_signature(body: bytes, header: str, key: str) -> bool:
    """Merge: base64url HMAC-SHA256 of the raw body; padding and alphabet may vary, so both are normalised."""
    if not header or not key:
        return False
    expected = base64.urlsafe_b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode().rstrip("=")
    given = header.strip().replace("+", "-").replace("/", "_").rstrip("=")
    return hmac.compare_digest(expected, given)


def verify_maesn_signature(body: bytes, header: str, secret: str) -> bool:
    """Maesn: hex HMAC-SHA256 of the raw body with the secret returned at subscription."""
    if not header or not secret:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    given = header.strip().lower().removeprefix("sha256=")
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True)
class WebhookEvent:
    """One change a webhook announced: `kind` is "created", "updated", "deleted", or "synced" (Merge)."""

    kind: str
    remote_id: str | None
    event: str


_MERGE_KINDS = {
    "added": "created",
    "created": "created",
    "changed": "updated",
    "updated": "updated",
    "deleted": "deleted",
    "removed": "deleted",
    "synced": "synced",
}


def merge_events(body: bytes) -> list[WebhookEvent]:
    """Contact events in a Merge webhook; event names differ across Merge's documents, so case is ignored."""
    payload = json.loads(body)
    hook = payload.get("hook") or {}
    event = str(hook.get("event") or payload.get("event") or "")
    model, _, action = event.lower().replace("_", ".").rpartition(".")
    kind = _MERGE_KINDS.get(action)
    if kind is None or model not in ("contact", "linked.account", "linkedaccount"):
        return []
    data: Any = payload.get("data")
    remote_id = data.get("id") if isinstance(data, dict) and kind != "synced" else None
    return [WebhookEvent(kind=kind, remote_id=remote_id, event=event)]


def maesn_events(body: bytes) -> list[WebhookEvent]:
    """Contact events in a Maesn webhook (an array of events, or one event object)."""
    payload = json.loads(body)
    items = payload if isinstance(payload, list) else [payload]
    events = []
    for item in items:
        if not isinstance(item, dict):
            continue
        event = str(item.get("eventType") or "")
        kind = {"CREATED": "created", "UPDATED": "updated", "DELETED": "deleted"}.get(event.upper())
        resource = str(item.get("resource") or "contacts").lower()
        if kind and resource in ("contacts", "customers", "suppliers"):
            events.append(WebhookEvent(kind=kind, remote_id=item.get("resourceId"), event=event))
    return events
