"""The sandbox's Merge Link: link tokens need the API key, a Link is completed once, a public token is exchanged
once for the account token, and the linked account's webhooks name the origin id Link was opened with."""

from __future__ import annotations

import httpx

from contactsync.sandbox import SandboxHandle
from contactsync.sandbox.merge_link import linked_account_id
from contactsync.sandbox.state import WebhookTarget
from contactsync.sandbox.webhooks import build

KEY = {"Authorization": "Bearer merge-key"}
LINK = {"end_user_origin_id": "tenant-7", "end_user_organization_name": "Seven", "end_user_email_address": "a@b.c"}


def test_link_token_complete_and_exchange(sandbox: SandboxHandle, api: httpx.Client) -> None:
    assert api.post("/api/integrations/create-link-token", json=LINK).status_code == 401
    assert api.post("/api/integrations/create-link-token", json={"x": 1}, headers=KEY).status_code == 400
    link = api.post("/api/integrations/create-link-token", json=LINK, headers=KEY).json()
    done = api.post(f"/_sandbox/link/{link['link_token']}/complete", json={"count": 3}).json()
    assert api.post(f"/_sandbox/link/{link['link_token']}/complete", json={}).status_code == 404
    public = done["public_token"]
    assert api.get(f"/api/integrations/account-token/{public}").status_code == 401
    answer = api.get(f"/api/integrations/account-token/{public}", headers=KEY).json()
    assert answer["account_token"] == done["account_token"] and answer["id"] == linked_account_id(done["account_token"])
    assert api.get(f"/api/integrations/account-token/{public}", headers=KEY).status_code == 404
    account = sandbox.state.get(answer["account_token"])
    assert account is not None and len(account.contacts) == 3
    account.webhook = WebhookTarget(url="http://127.0.0.1:9/hook", secret="k")
    body, _ = build(account, "updated", next(iter(account.contacts.values()))) or (b"", {})
    assert b'"end_user_origin_id": "tenant-7"' in body and answer["id"].encode() in body
