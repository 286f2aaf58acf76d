"""End to end through the API only: a tenant connects through Merge Link on the sandbox, pushes its contacts,
syncs with real workers, and reads the changes feed; platform edits then arrive as exactly those changes."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from contactsync.demo import split_companies
from contactsync.sandbox import SandboxHandle
from contactsync.sandbox.seed import companies
from tests.api.conftest import ok
from tests.conftest import Workers

pytestmark = pytest.mark.pipeline
OLD = "2024-01-15T00:00:00Z"


def wait_run(api: httpx.Client, run_id: int, workers: Workers, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = ok(api.get(f"/v1/tenants/t1/runs/{run_id}"))
        if run["finished_at"] is not None:
            return dict(run)
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish:\n{workers.logs()}")


def read_all(api: httpx.Client, after: int = 0, limit: int = 7) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = ok(api.get("/v1/tenants/t1/changes", params={"after": after, "limit": limit}))
        out += page["changes"]
        after = page["next_after"]
        if not page["has_more"]:
            return out


def contact_json(app_id: str, contact: Any) -> dict[str, Any]:
    data = contact.content()
    data.pop("deleted", None)
    return {"id": app_id, "updated_at": OLD, **data}


def test_connect_push_sync_and_read_the_feed(
    merge_env: dict[str, str], server: str, admin: httpx.Client, sandbox: SandboxHandle, workers: Workers
) -> None:
    split = split_companies(companies(31, 60))
    ok(admin.post("/v1/tenants", json={"id": "t1", "name": "Tenant One"}), 201)
    link = ok(admin.post("/v1/tenants/t1/connect/merge/link-token", json={"end_user_email_address": "it@one.example"}))
    # The tenant's user finishes Merge Link in the browser; Link hands the app a public token.
    spec = {"seed": 31, "contacts": [c.model_dump(mode="json") for c in split.remote], "rate_limit_per_minute": 100000}
    done = httpx.post(f"{sandbox.url}/_sandbox/link/{link['link_token']}/complete", json=spec, timeout=30).json()
    options = {"rate_limit_per_minute": 100000, "page_size": 50}
    connected = ok(
        admin.post(
            "/v1/tenants/t1/connect/merge/complete", json={"public_token": done["public_token"], "options": options}
        )
    )
    assert connected["connection"]["dialect"] == "merge" and connected["run_id"] is not None
    assert done["account_token"] not in str(connected)
    # A public token is exchanged once.
    assert (
        admin.post("/v1/tenants/t1/connect/merge/complete", json={"public_token": done["public_token"]}).status_code
        == 400
    )
    upsert = ok(admin.put("/v1/tenants/t1/contacts", json={"contacts": [contact_json(a, c) for a, c in split.app]}))
    assert upsert["created"] == len(split.app) and upsert["errors"] == []

    workers.start(1)
    first = wait_run(admin, connected["run_id"], workers)
    assert first["status"] == "succeeded", first
    feed = read_all(admin)
    assert [c["seq"] for c in feed] == list(range(1, len(feed) + 1))
    kinds = {c["kind"] for c in feed}
    assert {"linked", "remote_id_assigned"} <= kinds
    assert sum(c["kind"] == "remote_id_assigned" for c in feed) == first["counters"]["created_remote"]
    created = next(c for c in feed if c["kind"] == "remote_id_assigned")
    assert ok(admin.get(f"/v1/tenants/t1/contacts/{created['app_id']}"))["remote_id"] == created["remote_id"]
    pairs = [c for c in feed if c["kind"] == "linked" and c["data"]["by"] == "engine"]
    assert len(pairs) >= 4
    edited, archived, dropped, deleted = pairs[0], pairs[1], pairs[2], pairs[3]
    # The app deletes a contact: it is archived on the platform by the next run, never deleted there.
    assert ok(admin.delete(f"/v1/tenants/t1/contacts/{dropped['app_id']}"))["deleted"] is True

    token = done["account_token"]
    mutate = f"{sandbox.url}/_sandbox/accounts/{token}/mutate"
    httpx.post(
        mutate, json={"op": "edit", "id": edited["remote_id"], "changes": {"emails": ["books@changed.example"]}}
    ).raise_for_status()
    httpx.post(mutate, json={"op": "archive", "id": archived["remote_id"]}).raise_for_status()
    httpx.post(mutate, json={"op": "delete", "id": deleted["remote_id"]}).raise_for_status()
    new = httpx.post(
        mutate, json={"op": "add", "contact": {"name": "Zyxwvut Quarzglas Manufaktur", "is_supplier": True}}
    ).json()
    run = ok(admin.post("/v1/tenants/t1/runs", json={"kind": "incremental"}), 202)
    second = wait_run(admin, run["run_id"], workers)
    assert second["status"] == "succeeded", second

    fresh = read_all(admin, after=feed[-1]["seq"])
    assert [c["seq"] for c in fresh] == list(range(len(feed) + 1, len(feed) + len(fresh) + 1))
    got = sorted((c["kind"], c["app_id"], c["remote_id"]) for c in fresh)
    assert got == sorted(
        [
            ("fields_changed", edited["app_id"], edited["remote_id"]),
            ("fields_changed", archived["app_id"], archived["remote_id"]),
            ("archived", archived["app_id"], archived["remote_id"]),
            ("platform_only", None, new["remote_id"]),
            ("deleted", deleted["app_id"], deleted["remote_id"]),
        ]
    ), fresh
    change = next(c for c in fresh if c["app_id"] == edited["app_id"])
    assert change["data"]["fields"] == {"emails": ["books@changed.example"]}
    assert ok(admin.get(f"/v1/tenants/t1/contacts/{edited['app_id']}"))["contact"]["emails"] == [
        "books@changed.example"
    ]
    on_platform = {r["remote_id"]: r for r in httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/contacts").json()}
    assert (
        on_platform[dropped["remote_id"]]["status"] == "archived" and not on_platform[dropped["remote_id"]]["deleted"]
    )
    # A second reader from the start sees the very same sequence.
    assert read_all(admin, after=0, limit=50) == feed + fresh
    assert datetime.fromisoformat(fresh[-1]["created_at"]) <= datetime.now(UTC)
