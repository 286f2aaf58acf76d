"""Keys, tenants and connections through the HTTP API: who sees what, and secrets never coming back."""

from __future__ import annotations

import httpx

from contactsync import db
from contactsync.models import AppContact, Tenant
from contactsync.store.apikeys import revoke
from tests.api.conftest import client, make_key, ok

CONN = {
    "dialect": "merge",
    "base_url": "http://127.0.0.1:9/api/accounting/v1",
    "api_key": "secret-api-key",
    "account_token": "secret-account-token",
    "webhook_secret": "secret-hook",
    "options": {"conflict_policy": "app", "rate_limit_per_minute": 50},
}


def test_missing_wrong_and_revoked_keys_are_401(server: str, admin: httpx.Client) -> None:
    with client(server, None) as anon:
        assert anon.get("/v1/tenants").status_code == 401
    with client(server, "csk_not-a-real-key") as wrong:
        assert wrong.get("/v1/tenants").status_code == 401
    key = make_key(None)
    with client(server, key) as c:
        assert c.get("/v1/tenants").status_code == 200
        with db.session() as s:
            from contactsync.models import ApiKey
            from contactsync.store.apikeys import digest

            row = s.query(ApiKey).filter_by(key_hash=digest(key)).one()
            assert key not in (row.prefix + row.key_hash)  # only a digest is stored
            revoke(s, row.id)
        assert c.get("/v1/tenants").status_code == 401


def test_webhook_path_names_are_not_tenant_ids(server: str, admin: httpx.Client) -> None:
    from contactsync.api.app import create_app
    from contactsync.validation import RESERVED_TENANT_IDS

    paths = create_app().openapi()["paths"]
    fixed = {path.removeprefix("/webhooks/") for path in paths if path.startswith("/webhooks/") and "{" not in path}
    assert "/webhooks/{tenant_id}" in paths
    assert fixed == RESERVED_TENANT_IDS  # every provider-wide webhook path is reserved, and nothing else
    for reserved in sorted(fixed):
        refused = admin.post("/v1/tenants", json={"id": reserved, "name": "Shadowed"})
        assert refused.status_code == 422 and "reserved" in refused.text
    with db.session() as s:
        assert s.get(Tenant, "merge") is None and s.get(Tenant, "maesn") is None


def test_tenant_lifecycle_and_secrets_never_returned(server: str, admin: httpx.Client) -> None:
    created = ok(admin.post("/v1/tenants", json={"id": "acme", "name": "Acme"}), 201)
    assert created["status"] == "unconnected" and created["connection"] is None
    assert admin.post("/v1/tenants", json={"id": "acme", "name": "Again"}).status_code == 409
    conn = ok(admin.put("/v1/tenants/acme/connection", json=CONN))
    assert conn["options"] == {"conflict_policy": "app", "rate_limit_per_minute": 50}
    bad = admin.put("/v1/tenants/acme/connection", json={**CONN, "options": {"conflict_policy": "coin"}})
    assert bad.status_code == 422 and "conflict_policy" in bad.text
    rotated = ok(admin.post("/v1/tenants/acme/connection/credentials", json={"account_token": "new-token"}))
    detail = ok(admin.get("/v1/tenants/acme"))
    for answer in (conn, rotated, detail):
        text = str(answer)
        assert "secret-" not in text and "new-token" not in text
    assert detail["status"] == "active" and detail["open_reviews"] == 0 and detail["failed_writes"] == 0
    from contactsync.store.tenants import connection_of, vault

    with db.session() as s:
        stored = connection_of(s, "acme")
        assert stored is not None
        secrets = vault().open(stored.credentials)
    assert secrets["account_token"] == "new-token" and secrets["api_key"] == "secret-api-key"
    assert ok(admin.post("/v1/tenants/acme/pause"))["status"] == "paused"
    refused = admin.post("/v1/tenants/acme/runs", json={"kind": "full"})
    assert refused.status_code == 409 and "paused" in refused.text
    assert ok(admin.post("/v1/tenants/acme/resume"))["status"] == "active"
    ok(
        admin.put(
            "/v1/tenants/acme/contacts",
            json={"contacts": [{"id": "a1", "name": "A", "updated_at": "2026-01-01T00:00:00Z"}]},
        )
    )
    assert admin.delete("/v1/tenants/acme").status_code == 204
    assert admin.get("/v1/tenants/acme").status_code == 404
    with db.session() as s:
        assert s.get(Tenant, "acme") is None
        assert s.query(AppContact).filter_by(tenant_id="acme").count() == 0


def test_tenant_key_sees_only_its_tenant(server: str, admin: httpx.Client) -> None:
    for t in ("a", "b"):
        ok(admin.post("/v1/tenants", json={"id": t, "name": t.upper()}), 201)
    with client(server, make_key("a")) as mine:
        assert [t["id"] for t in ok(mine.get("/v1/tenants"))] == ["a"]
        assert mine.get("/v1/tenants/a").status_code == 200
        assert mine.get("/v1/tenants/b").status_code == 404
        assert mine.get("/v1/tenants/nope").status_code == 404  # the same answer: no existence oracle
        assert mine.post("/v1/tenants", json={"id": "c", "name": "C"}).status_code == 403
        assert mine.delete("/v1/tenants/a").status_code == 403


def test_keys_cli_prints_the_key_alone_last_and_revokes(env: dict[str, str], server: str, admin: httpx.Client) -> None:
    import os
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "contactsync", "keys", *args], env={**os.environ, **env},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    ok(admin.post("/v1/tenants", json={"id": "t1", "name": "T"}), 201)
    made = cli("create", "--tenant", "t1", "--label", "billing app")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("csk_") and " " not in key
    with client(server, key) as c:
        assert [t["id"] for t in ok(c.get("/v1/tenants"))] == ["t1"]
        listed = cli("list")
        assert "billing app" in listed.stdout and key not in listed.stdout
        key_id = made.stdout.split()[1]
        assert cli("revoke", key_id).returncode == 0
        assert c.get("/v1/tenants").status_code == 401
    admin_key = cli("create", "--admin").stdout.strip().splitlines()[-1]
    with client(server, admin_key) as c:
        assert c.get("/v1/tenants").status_code == 200


def test_options_interval_maesn_keys_and_unconfigured_merge(server: str, admin: httpx.Client) -> None:
    ok(admin.post("/v1/tenants", json={"id": "m", "name": "M"}), 201)
    assert (
        admin.post("/v1/tenants/m/connect/merge/link-token", json={"end_user_email_address": "a@b.example"}).status_code
        == 409
    )
    attached = ok(admin.post("/v1/tenants/m/connect/maesn", json={
        "api_key": "maesn-key", "account_key": "maesn-account", "base_url": "http://127.0.0.1:9",
        "options": {"company_id": "C1"}}))  # fmt: skip
    assert attached["connection"]["dialect"] == "maesn" and attached["run_id"] is not None
    assert "maesn-key" not in str(attached) and "maesn-account" not in str(attached)
    conn = ok(admin.put("/v1/tenants/m/connection/options", json={"conflict_policy": "platform", "limit": 20}))
    assert conn["options"] == {"conflict_policy": "platform", "limit": 20}
    assert admin.put("/v1/tenants/m/connection/options", json={"limit": 7}).status_code == 422
    assert admin.put("/v1/tenants/m/connection/options", json={"unknown": 1}).status_code == 422
    # Merge's page size is not an option of a Maesn connection: refused with the option named, nothing changed.
    refused = admin.put("/v1/tenants/m/connection/options", json={"page_size": 20})
    assert (
        refused.status_code == 422 and "page_size" in refused.json()["detail"] and "maesn" in refused.json()["detail"]
    )
    assert ok(admin.get("/v1/tenants/m"))["connection"]["options"] == {"conflict_policy": "platform", "limit": 20}
    assert ok(admin.patch("/v1/tenants/m", json={"sync_interval_seconds": 600}))["sync_interval_seconds"] == 600
    assert admin.patch("/v1/tenants/m", json={"sync_interval_seconds": 5}).status_code == 422


def test_openapi_and_docs_are_served(server: str) -> None:
    with httpx.Client(base_url=server) as anon:
        spec = ok(anon.get("/openapi.json"))
        assert (
            "/v1/tenants/{tenant_id}/changes" in spec["paths"] and "HTTPBearer" in spec["components"]["securitySchemes"]
        )
        assert anon.get("/docs").status_code == 200


def test_push_targets_set_read_and_removed(server: str, admin: httpx.Client) -> None:
    ok(admin.post("/v1/tenants", json={"id": "p", "name": "P"}), 201)
    body = {"url": "https://app.example/hooks/contacts", "secret": "0123456789abcdef-secret"}
    assert "secret" not in ok(admin.put("/v1/tenants/p/push", json=body))
    assert ok(admin.get("/v1/tenants/p/push"))["url"] == body["url"]
    assert admin.put("/v1/tenants/p/push", json={**body, "secret": "short"}).status_code == 422
    assert admin.delete("/v1/tenants/p/push").status_code == 204
    assert admin.get("/v1/tenants/p/push").status_code == 404
    assert admin.delete("/v1/tenants/p/push").status_code == 404
    assert ok(admin.put("/v1/push", json=body))["tenant_id"] is None


def test_the_api_server_exposes_prometheus_metrics(server: str, admin: httpx.Client) -> None:
    ok(admin.post("/v1/tenants", json={"id": "gauged", "name": "Gauged Ltd"}), 201)
    scrape = httpx.get(f"{server}/metrics", timeout=30)
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    assert "contactsync_" in scrape.text
