"""The review page in a real headless Chromium: a session URL opens the tenant's items; decisions made by click
and by keyboard are persisted and acted on (a link's update and a create arrive at the sandbox)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from contactsync import db
from contactsync.contact import Phone
from contactsync.sandbox import SandboxHandle
from contactsync.sandbox.seed import companies
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.schedule import trigger_sync
from tests.api.conftest import client, make_key, ok
from tests.conftest import Workers

pytestmark = pytest.mark.pipeline
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NEW_PHONE = "+49 30 9876543"
# What waits on a decision's round trip to the server (which acts on it at once) gets longer than Playwright's
# 5 s: beside a loaded suite it took longer, and the test is about the outcome, not its speed.
SERVER_WAIT_MS = 30_000


@pytest.fixture
def page(request: pytest.FixtureRequest) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        pg = browser.new_page()
        try:
            yield pg
        finally:
            report = getattr(request.node, "rep_call", None)
            if report is None or report.failed:
                ARTIFACTS.mkdir(exist_ok=True)
                pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
            browser.close()


def platform(sandbox: SandboxHandle, token: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/contacts", timeout=30).json())


def test_review_page_decisions_by_click_and_keyboard(
    env: dict[str, str], sandbox: SandboxHandle, workers: Workers, server: str, page: Page
) -> None:
    remote = companies(7, 6)
    token = "acct-review"
    body = {"token": token, "contacts": [c.model_dump(mode="json") for c in remote], "rate_limit_per_minute": 100000}
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=30).raise_for_status()
    # The app knows these companies by name only (so the matcher is unsure), with a phone the books lack.
    app = [
        (f"app-{i}", c.model_copy(update={"remote_id": None, "tax_number": None, "emails": (), "addresses": (),
                                          "phones": (Phone(number=NEW_PHONE),)}))
        for i, c in enumerate(remote)
    ]  # fmt: skip
    with db.session() as s:
        upsert_tenant(
            s, "t1", name="T", dialect="merge", base_url=f"{sandbox.url}/api/accounting/v1", api_key="k",
            account_token=token, options={"rate_limit_per_minute": 100000},
        )  # fmt: skip
        upsert_app_contacts(s, "t1", app, updated_at=datetime.now(UTC))
    workers.start(1)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    with client(server, make_key("t1")) as api:
        deadline = time.monotonic() + 90
        while ok(api.get(f"/v1/tenants/t1/runs/{run_id}"))["finished_at"] is None:
            assert time.monotonic() < deadline, workers.logs()
            time.sleep(0.3)
        items = ok(api.get("/v1/tenants/t1/review-items"))
        assert items["total"] == len(remote), items
        session = ok(api.post("/v1/tenants/t1/review-sessions", json={"user": "anna@tenant.example"}), 201)

        page.goto(session["url"])
        sections = page.locator("section.item")
        expect(sections).to_have_count(len(remote))
        expect(page.locator("section.item.current tr.diff").first).to_be_visible()
        first, second, third = (sections.nth(i).get_attribute("data-item") for i in range(3))
        page.keyboard.press("j")
        expect(sections.nth(1)).to_have_class("item current")
        page.keyboard.press("k")
        expect(sections.nth(0)).to_have_class("item current")
        sections.nth(0).get_by_role("button", name="Link (l)").click()
        expect(sections.nth(0).locator(".outcome")).to_have_text("linked", timeout=SERVER_WAIT_MS)
        expect(sections.nth(1)).to_have_class("item current", timeout=SERVER_WAIT_MS)
        page.keyboard.press("x")  # keep apart
        expect(sections.nth(1).locator(".outcome")).to_have_text("kept apart", timeout=SERVER_WAIT_MS)
        page.keyboard.press("c")  # create as new
        expect(sections.nth(2).locator(".outcome")).to_have_text("will be created", timeout=SERVER_WAIT_MS)

        # Bulk accept links what is left (every remaining item scores above 0.5) and reloads the page.
        page.fill("#bulk-score", "0.5")
        page.get_by_role("button", name="Accept all").click()
        expect(page.locator("p.count")).to_contain_text("0 open items", timeout=SERVER_WAIT_MS)
        decided = {
            status: ok(api.get("/v1/tenants/t1/review-items", params={"status": status}))["items"]
            for status in ("linked", "rejected", "created")
        }
        assert first in {str(i["id"]) for i in decided["linked"]} and len(decided["linked"]) == len(remote) - 2
        assert [str(i["id"]) for i in decided["rejected"]] == [second]
        assert [str(i["id"]) for i in decided["created"]] == [third]
        assert all(i["resolved_by"] == "anna@tenant.example" and i["resolved_at"] for v in decided.values() for i in v)
        linked_remote = next(i for i in decided["linked"] if str(i["id"]) == first)["remote"]["id"]
        created_name = decided["created"][0]["candidates"][0]["contact"]["name"]

    digits = NEW_PHONE.replace(" ", "").replace("+", "")
    deadline = time.monotonic() + 90
    while True:
        rows = platform(sandbox, token)
        updated = [r for r in rows if r["remote_id"] == linked_remote and any(
            digits in p["number"].replace(" ", "").replace("+", "") for p in r["phones"])]  # fmt: skip
        copies = [r for r in rows if r["name"] == created_name]
        if updated and len(copies) == 2:
            break
        assert time.monotonic() < deadline, f"decisions not acted on: {rows}\n{workers.logs()}"
        time.sleep(0.5)
