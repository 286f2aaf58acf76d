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
from collections.abc import Callable, Mapping
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
    if not isinstance(payload, dict):
        raise ValueError("a Merge webhook is an object")
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


def merge_tenant_of(payload: Any) -> str | None:
    """The tenant a Merge event is for: Link made its linked account with our tenant id as the origin id."""
    if not isinstance(payload, dict):
        return None
    account = payload.get("linked_account")
    origin = account.get("end_user_origin_id") if isinstance(account, dict) else None
    return origin if isinstance(origin, str) and origin else None


def merge_account_matches(payload: Any, secrets: Mapping[str, Any]) -> bool:
    """Whether a verified Merge event names the linked account this tenant connected."""
    expected = secrets.get("linked_account_id")
    if not expected:
        # Attached by hand with an account token only: there is no recorded account to compare with.
        return True
    account = payload.get("linked_account") if isinstance(payload, dict) else None
    return isinstance(account, dict) and account.get("id") == expected


def any_account(_payload: Any, _secrets: Mapping[str, Any]) -> bool:
    """For a dialect whose webhook URL is made per connection: the signature already proves the account."""
    return True


@dataclass(frozen=True)
class WebhookFormat:
    """How one dialect's webhooks are recognised; the receiver asks the dialect's registry entry for it."""

    signature_header: str
    # (raw body, signature header, secret) -> whether the signature is the secret's
    verify: Callable[[bytes, str, str], bool]
    # The contact events of a verified body; ValueError (or TypeError, AttributeError) when it is not an event.
    events: Callable[[bytes], list[WebhookEvent]]
    # Whether a verified event is for the account the tenant connected (its secrets say which).
    for_account: Callable[[Any, Mapping[str, Any]], bool] = any_account
    # For a deployment-wide endpoint: the tenant an event names (None: the dialect's URLs name the tenant).
    tenant_of: Callable[[Any], str | None] | None = None


MERGE_WEBHOOKS = WebhookFormat(
    signature_header=MERGE_SIGNATURE_HEADER,
    verify=verify_merge_signature,
    events=merge_events,
    for_account=merge_account_matches,
    tenant_of=merge_tenant_of,
)
MAESN_WEBHOOKS = WebhookFormat(
    signature_header=MAESN_SIGNATURE_HEADER, verify=verify_maesn_signature, events=maesn_events
)
