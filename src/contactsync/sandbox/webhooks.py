"""Signed webhooks from the sandbox, in Merge's and Maesn's shapes, sent from one background thread.

Sending never happens on the request path: a contact change only enqueues, so a slow or dead receiver cannot
slow the sandbox down or fail the write that caused it. Failures are logged and dropped, as a platform would
after its retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import threading
import uuid
from typing import Any

import httpx

from contactsync.sandbox import maesn_api, merge_schema
from contactsync.sandbox.payloads import iso
from contactsync.sandbox.state import Account, EventKind, StoredContact

log = logging.getLogger(__name__)

_MERGE_EVENTS = {"created": "Contact.added", "updated": "Contact.changed", "deleted": "Contact.deleted"}
_MAESN_EVENTS = {"created": "CREATED", "updated": "UPDATED", "deleted": "DELETED"}


def merge_signature(body: bytes, key: str) -> str:
    digest = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def maesn_signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def build(account: Account, kind: EventKind, stored: StoredContact) -> tuple[bytes, dict[str, str]] | None:
    """The body and headers of the webhook for one change, or None when the account has no webhook."""
    target = account.webhook
    if target is None:
        return None
    payload: Any
    if target.scheme == "maesn":
        payload = [
            {
                "id": str(uuid.uuid4()),
                "eventType": _MAESN_EVENTS[kind],
                "resource": "contacts",
                "resourceId": stored.id,
                "targetSystem": "SANDBOX",
                "timestamp": iso(stored.modified_at),
                "data": maesn_api.render(stored, "contacts"),
            }
        ]
        body = json.dumps(payload).encode()
        return body, {"X-MAESN-SIGNATURE": maesn_signature(body, target.secret)}
    payload = {
        "hook": {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, target.url)),
            "event": _MERGE_EVENTS[kind],
            "target": target.url,
        },
        "linked_account": {
            "id": str(uuid.uuid5(uuid.NAMESPACE_OID, account.token)),
            "integration": "Sandbox",
            "integration_slug": "sandbox",
            "category": "accounting",
            "end_user_origin_id": account.origin_id or account.token,
            "status": "COMPLETE",
        },
        "data": merge_schema.render(stored),
    }
    body = json.dumps(payload).encode()
    return body, {"X-Merge-Webhook-Signature": merge_signature(body, target.secret)}


class WebhookSender:
    """An account listener that queues signed webhooks and posts them from a daemon thread."""

    def __init__(self, timeout: float = 5.0) -> None:
        self._queue: queue.Queue[tuple[str, bytes, dict[str, str]]] = queue.Queue()
        self._timeout = timeout
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0

    def __call__(self, account: Account, kind: EventKind, stored: StoredContact) -> None:
        built = build(account, kind, stored)
        if built is None or account.webhook is None:
            return
        self._queue.put((account.webhook.url, *built))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while True:
                url, body, headers = self._queue.get()
                try:
                    response = client.post(url, content=body, headers={"Content-Type": "application/json", **headers})
                    response.raise_for_status()
                    self.delivered += 1
                except httpx.HTTPError as exc:
                    self.failed += 1
                    log.warning("sandbox webhook to %s failed: %s", url, exc)
                finally:
                    self._queue.task_done()

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued webhook has been attempted; for tests."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        return done.wait(timeout)
