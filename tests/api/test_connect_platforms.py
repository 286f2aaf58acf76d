"""Connect through Merge Link: the platform Link names (`integration.slug`) completes the connection's options
with what its reference says (Xero's roles are its own), unless the request set them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import ok


def _connect(admin: httpx.Client, sandbox: Any, tenant_id: str, platform: str, options: dict[str, Any]) -> Any:
    ok(admin.post("/v1/tenants", json={"id": tenant_id, "name": tenant_id}), 201)
    link = ok(
        admin.post(f"/v1/tenants/{tenant_id}/connect/merge/link-token", json={"end_user_email_address": "it@a.example"})
    )
    spec = {"seed": 3, "count": 2, "platform": platform}
    done = httpx.post(f"{sandbox.url}/_sandbox/link/{link['link_token']}/complete", json=spec, timeout=30).json()
    body = {"public_token": done["public_token"], "options": options}
    return ok(admin.post(f"/v1/tenants/{tenant_id}/connect/merge/complete", json=body))["connection"]


@pytest.mark.parametrize(
    ("platform", "options", "read_only", "cap"),
    [
        ("xero", {}, ["is_customer", "is_supplier"], 5),
        ("quickbooks-online", {"page_size": 50}, ["is_customer", "is_supplier"], 10),
        # A person's choice stands, even "none".
        ("xero", {"read_only_fields": [], "max_concurrent_requests": 2}, [], 2),
        ("sandbox", {}, None, None),  # a platform this project knows nothing about gets no defaults
    ],
)
def test_the_linked_platform_completes_the_options_a_person_did_not_set(
    merge_env: dict[str, str],
    server: str,
    admin: httpx.Client,
    sandbox: Any,
    platform: str,
    options: dict[str, Any],
    read_only: list[str] | None,
    cap: int | None,
) -> None:
    connection = _connect(admin, sandbox, "t1", platform, options)
    assert connection["options"].get("read_only_fields") == read_only
    assert connection["options"].get("max_concurrent_requests") == cap
    learned = ("read_only_fields", "max_concurrent_requests")
    assert {k: v for k, v in connection["options"].items() if k not in learned} == {
        k: v for k, v in options.items() if k not in learned
    }


def test_a_merge_connection_attached_through_the_api_learns_its_platform_too(
    server: str, admin: httpx.Client, sandbox: Any
) -> None:
    """The connection API asks Merge's `/account-details` as `contactsync tenants add` does: the platform's
    known defaults complete what the request did not set; a Maesn connection names no platform."""
    token = "acct-xero-api"
    spec = {"token": token, "count": 0, "platform": "xero"}
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=spec, timeout=30).raise_for_status()
    merge = {"dialect": "merge", "base_url": f"{sandbox.url}/api/accounting/v1", "api_key": "k", "account_token": token}
    for tenant_id, options, expected in (
        (
            "learns",
            {"page_size": 50},
            {"page_size": 50, "read_only_fields": ["is_customer", "is_supplier"], "max_concurrent_requests": 5},
        ),
        (
            "told",
            {"read_only_fields": ["currency"]},
            {"read_only_fields": ["currency"], "max_concurrent_requests": 5},
        ),
    ):
        ok(admin.post("/v1/tenants", json={"id": tenant_id, "name": tenant_id}), 201)
        attached = ok(admin.put(f"/v1/tenants/{tenant_id}/connection", json={**merge, "options": options}))
        assert attached["options"] == expected
    ok(admin.post("/v1/tenants", json={"id": "m1", "name": "m1"}), 201)
    maesn = {**merge, "dialect": "maesn", "base_url": sandbox.url}
    assert ok(admin.put("/v1/tenants/m1/connection", json=maesn))["options"] == {}
    # Merge that cannot be asked: the connection is attached with its options as given
    ok(admin.post("/v1/tenants", json={"id": "unreachable", "name": "u"}), 201)
    gone = {**merge, "base_url": "http://127.0.0.1:9/api/accounting/v1", "options": {"page_size": 20}}
    assert ok(admin.put("/v1/tenants/unreachable/connection", json=gone))["options"] == {"page_size": 20}
