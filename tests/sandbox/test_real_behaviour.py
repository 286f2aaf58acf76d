"""The sandbox behaves like real unified APIs on request: created contacts show late, filters are ignored or
refused, a committed write is answered 503. Over real HTTP, configured through the admin API."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

PREFIX = "/api/accounting/v1"


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": "Bearer k", "X-Account-Token": token}


def _names(api: httpx.Client, token: str, **params: Any) -> list[str]:
    response = api.get(f"{PREFIX}/contacts", params={"page_size": 100, **params}, headers=_headers(token))
    response.raise_for_status()
    return [r["name"] for r in response.json()["results"]]


def test_a_created_contact_shows_in_lists_only_after_the_lag_stamped_then(admin: Any, api: httpx.Client) -> None:
    token = admin.create_account(count=3, faults={"visibility_lag_ms": 700})
    created = api.post(f"{PREFIX}/contacts", json={"model": {"name": "Late Ltd"}}, headers=_headers(token))
    assert created.status_code == 201
    sent_at = created.json()["model"]["created_at"]
    remote_id = created.json()["model"]["id"]
    assert "Late Ltd" not in _names(api, token)
    assert "Late Ltd" not in _names(api, token, name="Late Ltd")
    assert api.get(f"{PREFIX}/contacts/{remote_id}", headers=_headers(token)).status_code == 200  # by id at once
    time.sleep(0.8)
    assert "Late Ltd" in _names(api, token, name="Late Ltd")
    shown = next(c for c in admin.contacts(token) if c["name"] == "Late Ltd")
    assert shown["modified_at"] > sent_at  # stamped when it became visible, not when it was created


def test_a_platform_edit_before_the_lag_ends_keeps_its_own_time(admin: Any, api: httpx.Client) -> None:
    """The unified API stamps the contact when it stores it; the platform's edit time stays the edit's, so an app
    edit made after it is still the newer one."""
    token = admin.create_account(count=0, faults={"visibility_lag_ms": 2000})
    created = api.post(f"{PREFIX}/contacts", json={"model": {"name": "Early Edit Ltd"}}, headers=_headers(token))
    remote_id = created.json()["model"]["id"]
    before = datetime.now(UTC)
    answered = admin.mutate(token, "edit", id=remote_id, changes={"currency": "EUR"})
    after = datetime.now(UTC)
    model = api.get(f"{PREFIX}/contacts/{remote_id}", headers=_headers(token)).json()
    # The admin API states both clocks too (the soak records a platform edit at the time its dialect will read).
    assert (answered["remote_updated_at"], answered["modified_at"]) == (
        model["remote_updated_at"],
        model["modified_at"],
    )
    edited_at = datetime.fromisoformat(model["remote_updated_at"].replace("Z", "+00:00"))
    stored_at = datetime.fromisoformat(model["modified_at"].replace("Z", "+00:00"))
    assert before - timedelta(milliseconds=5) <= edited_at <= after + timedelta(milliseconds=5)
    assert stored_at >= edited_at + timedelta(milliseconds=1500)  # the lag's end, not the edit


def test_filters_can_be_ignored_or_refused(admin: Any, api: httpx.Client) -> None:
    token = admin.create_account(count=5, contacts=[{"name": "Wanted GmbH"}])
    assert _names(api, token, name="Wanted GmbH") == ["Wanted GmbH"]
    admin.configure(token, faults={"ignore_filters": True})
    assert len(_names(api, token, name="Wanted GmbH")) == 6
    admin.configure(token, faults={"ignore_filters": False, "refuse_filters": True})
    refused = api.get(f"{PREFIX}/contacts", params={"name": "Wanted GmbH"}, headers=_headers(token))
    assert refused.status_code == 400
    assert len(_names(api, token)) == 6  # an unfiltered list is still served


def test_a_write_committed_then_answered_503(admin: Any, api: httpx.Client) -> None:
    token = admin.create_account(count=0, faults={"error_after_commit_rate": 1.0})
    answer = api.post(f"{PREFIX}/contacts", json={"model": {"name": "Committed Ltd"}}, headers=_headers(token))
    assert answer.status_code == 503
    assert [c["name"] for c in admin.contacts(token)] == ["Committed Ltd"]


def test_a_stalled_write_path_holds_writes_until_lifted(admin: Any, sandbox: Any) -> None:
    token = admin.create_account(count=0, faults={"stall_writes_after": 1})
    with (
        httpx.Client(base_url=sandbox.url, timeout=30) as first,
        httpx.Client(base_url=sandbox.url, timeout=30) as late,
    ):
        sent = first.post(f"{PREFIX}/contacts", json={"model": {"name": "First Ltd"}}, headers=_headers(token))
        assert sent.status_code == 201  # writes before the stall pass
        held: dict[str, int] = {}
        thread = threading.Thread(
            target=lambda: held.setdefault(
                "status",
                late.post(
                    f"{PREFIX}/contacts", json={"model": {"name": "Held Ltd"}}, headers=_headers(token)
                ).status_code,
            )
        )
        thread.start()
        thread.join(0.6)
        assert thread.is_alive() and "status" not in held  # still held by the platform
        assert admin.stats(token)["injected"] == {"stalled write": 1}  # and counted, so a test can wait for it
        assert [c["name"] for c in admin.contacts(token)] == ["First Ltd"]
        admin.configure(token, faults={"stall_writes_after": -1})
        thread.join(10)
        assert held == {"status": 201}
    assert sorted(c["name"] for c in admin.contacts(token)) == ["First Ltd", "Held Ltd"]


def test_every_answer_is_dated_when_it_is_sent(api: httpx.Client) -> None:
    """A walk places a request in time by its Date (`maesn_walk`), trusting it to lag no more than a real server's
    cached Date does. Requests every 20 ms over 2.5 s cross second boundaries: each Date is the second it was sent
    in, not an older one."""
    for _ in range(125):
        asked = time.time()
        response = api.get("/_sandbox/health")
        answered = time.time()
        dated = parsedate_to_datetime(response.headers["date"]).timestamp()
        assert int(asked) <= dated <= answered, (asked, response.headers["date"], answered)
        assert len(response.headers.get_list("date")) == 1
        time.sleep(0.02)
