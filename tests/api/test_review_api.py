"""The review API: filters and paging, decisions recorded with who, bulk accept, and review-session URLs that
are signed, expire, and reach only their own tenant."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.api.sessions import issue_session, open_session
from contactsync.contact import CanonicalContact
from contactsync.models import Connection, Link, ReviewItem, Tenant, WriteOp
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.mirror import upsert_remote_contacts
from contactsync.store.tenants import upsert_tenant
from tests.api.conftest import client, make_key, ok

SCORES = (0.95, 0.92, 0.7, 0.6)


def items_for(tenant_id: str) -> list[int]:
    """Four open items (one platform contact, one app candidate each) with the scores above."""
    with db.session() as s:
        upsert_tenant(s, tenant_id, name=tenant_id, dialect="merge", base_url="http://127.0.0.1:9", api_key="k",
                      account_token="a")  # fmt: skip
        conn = s.scalar(select(Connection).where(Connection.tenant_id == tenant_id))
        assert conn is not None
        apps = [(f"a{i}", CanonicalContact(name=f"Firm {i} GmbH")) for i in range(len(SCORES))]
        upsert_app_contacts(s, tenant_id, apps)
        remote_ids, _, _ = upsert_remote_contacts(
            s, tenant_id, conn.id, [CanonicalContact(name=f"Firm {i}", remote_id=f"r{i}") for i in range(len(SCORES))]
        )
        from contactsync.models import AppContact

        ids = []
        for i, (remote_id, score) in enumerate(zip(remote_ids, SCORES, strict=True)):
            app = s.scalar(select(AppContact).where(AppContact.tenant_id == tenant_id, AppContact.app_id == f"a{i}"))
            assert app is not None
            item = ReviewItem(tenant_id=tenant_id, remote_contact_id=remote_id, status="open",
                              candidates=[{"app_contact_id": app.id, "score": score, "explanation": {}}])  # fmt: skip
            s.add(item)
            s.flush()
            ids.append(item.id)
        return ids


@pytest.fixture
def api(server: str) -> httpx.Client:
    return client(server, make_key("t1"))


def test_filters_paging_decisions_and_bulk_accept(server: str, api: httpx.Client) -> None:
    ids = items_for("t1")
    page = ok(api.get("/v1/tenants/t1/review-items", params={"limit": 2}))
    assert page["total"] == 4 and [i["candidates"][0]["score"] for i in page["items"]] == [0.95, 0.92]
    assert ok(api.get("/v1/tenants/t1/review-items", params={"offset": 2, "limit": 2}))["items"][0]["id"] == ids[2]
    assert ok(api.get("/v1/tenants/t1/review-items", params={"max_score": 0.65}))["total"] == 1
    assert ok(api.get("/v1/tenants/t1/review-items", params={"q": "firm 3"}))["items"][0]["id"] == ids[3]

    created = ok(api.post(f"/v1/tenants/t1/review-items/{ids[3]}/decision", json={"action": "create", "by": "ops"}))
    assert created["app_id"] == "a3"
    again = api.post(f"/v1/tenants/t1/review-items/{ids[3]}/decision", json={"action": "link"})
    assert again.status_code == 409
    kept = ok(api.post(f"/v1/tenants/t1/review-items/{ids[2]}/decision", json={"action": "keep_apart"}))
    assert kept["action"] == "keep_apart"
    bulk = ok(api.post("/v1/tenants/t1/review-items/bulk-accept", json={"min_score": 0.9}))
    assert bulk["linked"] == 2
    with db.session() as s:
        statuses = {i.id: (i.status, i.resolved_by) for i in s.scalars(select(ReviewItem))}
        assert statuses[ids[3]] == ("created", "ops")
        assert statuses[ids[2]][0] == "rejected" and statuses[ids[2]][1].startswith("key:")
        assert {statuses[i][0] for i in ids[:2]} == {"linked"}
        assert s.scalar(select(WriteOp.op_key).where(WriteOp.kind == "create")).startswith("create:")
        assert len(list(s.scalars(select(Link)))) == 2
    feed = ok(api.get("/v1/tenants/t1/changes"))["changes"]
    assert [c["kind"] for c in feed].count("linked") == 2
    assert [c["kind"] for c in feed].count("platform_only") == 2  # kept apart and created: remote stays alone


def test_review_sessions_are_signed_expiring_and_scoped(server: str, api: httpx.Client, admin: httpx.Client) -> None:
    items_for("t1")
    other = items_for("t2")
    url = ok(api.post("/v1/tenants/t1/review-sessions", json={"user": "anna"}), 201)["url"]
    token = url.split("session=")[1]
    assert open_session(token) is not None and open_session(token[:-2] + "xx") is None
    with httpx.Client(base_url=server) as browser:
        assert browser.get(url.replace(server, "")).status_code == 200
        assert "Firm 0" in browser.get(url.replace(server, "")).text
        assert browser.get("/review", params={"session": token[:-4]}).status_code == 401
        assert browser.get("/review").status_code == 401
        # The session reaches only its own tenant's items.
        foreign = browser.post(f"/review/api/items/{other[0]}/decision", json={"action": "link"},
                               headers={"X-Review-Session": token})  # fmt: skip
        assert foreign.status_code == 404
        expired = issue_session("t1", "anna", ttl_seconds=-1)
        assert browser.get("/review", params={"session": expired}).status_code == 401


def test_review_sessions_can_be_revoked(server: str, api: httpx.Client) -> None:
    items_for("t1")
    first = ok(api.post("/v1/tenants/t1/review-sessions", json={"user": "anna"}), 201)["url"]
    second = ok(api.post("/v1/tenants/t1/review-sessions", json={"user": "ben"}), 201)["url"]
    token = first.split("session=")[1]
    with httpx.Client(base_url=server) as browser:
        assert browser.get(first.replace(server, "")).status_code == 200
        assert api.delete("/v1/tenants/t1/review-sessions").status_code == 204
        for url in (first, second):  # every session issued until the revocation, whoever holds it
            refused = browser.get(url.replace(server, ""))
            assert refused.status_code == 401 and "revoked" in refused.text
        decision = browser.post("/review/api/items/1/decision", json={"action": "link"},
                                headers={"X-Review-Session": token})  # fmt: skip
        assert decision.status_code == 401
        fresh = ok(api.post("/v1/tenants/t1/review-sessions", json={"user": "anna"}), 201)["url"]
        assert browser.get(fresh.replace(server, "")).status_code == 200  # issued after it: works at once
    with db.session() as s:
        tenant = s.get(Tenant, "t1")
        assert tenant is not None and tenant.review_sessions_revoked_at is not None


def test_review_page_filters_and_pages_server_side(server: str, api: httpx.Client) -> None:
    items_for("t1")
    url = ok(api.post("/v1/tenants/t1/review-sessions", json={"user": "anna"}), 201)["url"]
    token = url.split("session=")[1]
    with httpx.Client(base_url=server) as browser:
        page = browser.get("/review", params={"session": token, "limit": 2}).text
        assert page.count('class="item') == 2 and "4 open items" in page and 'id="next-page"' in page
        only = browser.get("/review", params={"session": token, "q": "Firm 3"}).text
        assert only.count('class="item') == 1 and "Firm 3" in only
        high = browser.get("/review", params={"session": token, "min_score": 0.9}).text
        assert high.count('class="item') == 2
        assert browser.get("/static/review.js").status_code == 200


def test_access_log_keeps_no_session_token(server: str, api: httpx.Client) -> None:
    items_for("t1")
    url = ok(api.post("/v1/tenants/t1/review-sessions", json={"user": "anna"}), 201)["url"]
    token = url.split("session=")[1]
    import logging

    from contactsync.api.app import _RedactSessions

    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s" %d', ("c", "GET", url, 200), None)
    assert _RedactSessions().filter(record)
    assert token not in record.getMessage() and "/review?session=" in record.getMessage()


def test_a_decision_for_a_paused_tenant_is_kept_and_starts_no_run(server: str, api: httpx.Client) -> None:
    """The pause promises that no new run starts: the decision is recorded, and travels with the first run after
    the tenant is resumed (the tenant is marked as asking for one)."""
    from contactsync.models import SyncRun

    ids = items_for("t1")
    with db.session() as s:
        tenant = s.get(Tenant, "t1")
        assert tenant is not None
        tenant.paused = True
    done = ok(api.post(f"/v1/tenants/t1/review-items/{ids[0]}/decision", json={"action": "link", "by": "ops"}))
    assert done["run_id"] is None
    with db.session() as s:
        assert list(s.scalars(select(SyncRun))) == []
        assert s.scalar(select(ReviewItem.status).where(ReviewItem.id == ids[0])) == "linked"
        tenant = s.get(Tenant, "t1")
        assert tenant is not None and tenant.sync_requested_at is not None


def test_the_page_shows_a_role_the_platform_does_not_state_as_not_stated() -> None:
    """Merge's null roles are mirrored as the model's "no": the page must not show them as the platform's word."""
    from contactsync.api.page import rows

    remote = {"name": "Nord GmbH", "is_customer": False, "is_supplier": False, "status": "active",
              "unstated": ["is_customer", "is_supplier"]}  # fmt: skip
    app = {"name": "Nord GmbH", "is_customer": True, "is_supplier": False, "status": "active"}
    shown = {r["field"]: r for r in rows(remote, app)}
    assert shown["is customer"] == {"field": "is customer", "remote": "not stated", "app": "yes", "differs": False}
    assert shown["is supplier"]["remote"] == "not stated" and shown["status"]["remote"] == "active"
    stated = {r["field"]: r for r in rows({**remote, "unstated": []}, app)}
    assert stated["is customer"]["remote"] == "no" and stated["is customer"]["differs"] is True
