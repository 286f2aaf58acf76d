"""Tenant isolation: every route of the OpenAPI spec, called with tenant A's key on tenant B's ids, answers 404
(or 403 for admin-only routes) and neither reads nor changes anything of B's."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

from contactsync import db
from contactsync.models import AppContact, Change, Connection, RemoteContact, ReviewItem, SyncRun, Tenant
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.runs import start_run
from contactsync.store.tenants import upsert_tenant
from tests.api.conftest import client, make_key, ok

BODIES: dict[tuple[str, str], Any] = {
    ("put", "/v1/tenants/{tenant_id}/connection"): {
        "dialect": "merge", "base_url": "http://127.0.0.1:9", "api_key": "x", "account_token": "y",
    },
    ("post", "/v1/tenants/{tenant_id}/connection/credentials"): {"api_key": "stolen"},
    ("put", "/v1/tenants/{tenant_id}/connection/options"): {"page_size": 10},
    ("patch", "/v1/tenants/{tenant_id}"): {"name": "Hacked"},
    ("put", "/v1/tenants/{tenant_id}/push"): {"url": "http://127.0.0.1:9/x", "secret": "0123456789abcdef"},
    ("post", "/v1/tenants/{tenant_id}/connect/merge/link-token"): {"end_user_email_address": "a@b.example"},
    ("post", "/v1/tenants/{tenant_id}/connect/merge/complete"): {"public_token": "abc"},
    ("post", "/v1/tenants/{tenant_id}/connect/maesn"): {"api_key": "x", "account_key": "y"},
    ("put", "/v1/tenants/{tenant_id}/contacts"): {
        "contacts": [{"id": "b1", "name": "Overwritten", "updated_at": "2030-01-01T00:00:00Z"}]
    },
    ("post", "/v1/tenants/{tenant_id}/runs"): {"kind": "full"},
    ("post", "/v1/tenants/{tenant_id}/review-items/{item_id}/decision"): {"action": "link"},
    ("post", "/v1/tenants/{tenant_id}/review-items/bulk-accept"): {"min_score": 0.5},
    ("post", "/v1/tenants/{tenant_id}/review-sessions"): {"user": "mallory"},
}  # fmt: skip


def tenant_b() -> dict[str, str]:
    """Tenant B with one of everything a route can address; returns the ids to put in paths."""
    with db.session() as s:
        upsert_tenant(s, "b", name="B", dialect="merge", base_url="http://127.0.0.1:9", api_key="k", account_token="a")
        from contactsync.contact import CanonicalContact
        from contactsync.store.contacts import upsert_app_contacts

        upsert_app_contacts(s, "b", [("b1", CanonicalContact(name="Bee GmbH"))])
        conn = s.scalar(select(Connection).where(Connection.tenant_id == "b"))
        assert conn is not None
        (remote_id,), _, _ = upsert_remote_contacts(s, "b", conn.id, [CanonicalContact(name="Bee", remote_id="r1")])
        app = s.scalar(select(AppContact).where(AppContact.app_id == "b1"))
        assert app is not None
        item = ReviewItem(
            tenant_id="b", remote_contact_id=remote_id, status="open",
            candidates=[{"app_contact_id": app.id, "score": 0.9, "explanation": {}}],
        )  # fmt: skip
        s.add(item)
        run = start_run(s, conn)
        assert run is not None
        s.flush()
        return {"tenant_id": "b", "item_id": str(item.id), "run_id": str(run.id), "app_id": "b1"}


def snapshot() -> str:
    with db.session() as s:
        parts: list[Any] = []
        for model in (Tenant, Connection, AppContact, RemoteContact, ReviewItem, SyncRun, Change):
            for row in s.scalars(select(model)):
                parts.append({k: str(v) for k, v in vars(row).items() if not k.startswith("_")})
        return json.dumps(parts, sort_keys=True)


def test_tenant_a_key_cannot_touch_tenant_b(server: str, admin: httpx.Client) -> None:
    ok(admin.post("/v1/tenants", json={"id": "a", "name": "A"}), 201)
    ids = tenant_b()
    before = snapshot()
    spec = ok(admin.get("/openapi.json"))
    walked = 0
    with client(server, make_key("a")) as a:
        for path, operations in spec["paths"].items():
            if "{tenant_id}" not in path or not path.startswith("/v1/"):
                continue
            for method in operations:
                url = path.format(**{k: ids[k] for k in ids if "{" + k + "}" in path})
                body = BODIES.get((method, path))
                answer = a.request(method.upper(), url, json=body) if body is not None else a.request(method, url)
                assert answer.status_code == 404, (method, path, answer.status_code, answer.text[:300])
                assert "Bee" not in answer.text
                walked += 1
        assert [t["id"] for t in ok(a.get("/v1/tenants"))] == ["a"]
        # Routes for every tenant at once are the admin's.
        assert a.get("/v1/push").status_code == 403
        assert a.put("/v1/push", json={"url": "http://127.0.0.1:9/x", "secret": "0123456789abcdef"}).status_code == 403
        assert a.post("/v1/tenants", json={"id": "b2", "name": "B2"}).status_code == 403
    assert walked >= 18
    assert snapshot() == before
