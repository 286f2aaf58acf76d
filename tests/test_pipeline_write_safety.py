"""With real workers and the sandbox over HTTP: a first sync after a CSV import leaves the platform's contacts as
they were, and a deletion or archival on the platform reaches the app contact without anything being recreated."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.appimport import RowError, read_app_contacts
from contactsync.appinput import AppInput
from contactsync.models import AppContact, Link, RemoteContact
from contactsync.sandbox.seed import companies
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.tenants import upsert_tenant
from tests.conftest import Workers
from tests.pipeline import admin, full_sync

pytestmark = pytest.mark.pipeline
COMPARED = ("name", "tax_number", "is_customer", "is_supplier", "emails", "phones", "addresses", "status", "currency")


def spaced(tax: str | None) -> str:
    """The app's way of writing the same tax id: grouped with spaces."""
    return " ".join((tax or "")[i : i + 3] for i in range(0, len(tax or ""), 3))


def write_csv(path: Path, rows: list[Any]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, quoting=csv.QUOTE_ALL)
        out.writerow(["id", "name", "tax_number", "email", "phone", "street", "city", "postal_code", "country"])
        for i, c in enumerate(rows):
            a = c.addresses[0]
            out.writerow([f"app-{i}", c.name.upper(), spaced(c.tax_number), ",".join(c.emails),
                          c.phones[0].number if c.phones else "", a.street_1 or "", a.city or "",
                          a.postal_code or "", a.country or ""])  # fmt: skip


def snapshot(sandbox: Any, token: str) -> dict[str, dict[str, Any]]:
    rows = httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/contacts", timeout=30).json()
    return {r["remote_id"]: {k: r.get(k) for k in (*COMPARED, "deleted")} for r in rows}


def test_first_sync_after_import_changes_nothing_and_deletions_reach_the_app(
    env: dict[str, str], workers: Workers, sandbox: Any, tmp_path: Path
) -> None:
    platform = companies(41, 60)
    token = "acct-ws"
    body = {"token": token, "seed": 41, "count": 0, "contacts": [c.model_dump(mode="json") for c in platform],
            "rate_limit_per_minute": 100_000, "faults": {}}  # fmt: skip
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=60).raise_for_status()
    path = tmp_path / "app.csv"
    write_csv(path, platform)
    items = list(read_app_contacts(path))
    assert not [i for i in items if isinstance(i, RowError)]
    with db.session() as s:
        upsert_tenant(s, "t1", name="T", dialect="merge", base_url=f"{sandbox.url}/api/accounting/v1", api_key="k",
                      account_token=token, options={"rate_limit_per_minute": 100_000, "page_size": 50})  # fmt: skip
        upsert_app_contacts(s, "t1", [i for i in items if isinstance(i, AppInput)])
    before = snapshot(sandbox, token)
    workers.start(1)

    run = full_sync(workers)
    assert run.status == "succeeded", run.error
    assert run.linked >= 40  # most pairs were linked, so the assertion below is about linked pairs
    assert run.updated_remote == 0
    assert snapshot(sandbox, token) == before  # no spelling, tax id format or missing flag went out

    with db.session() as s:
        pairs = s.execute(
            select(RemoteContact.remote_id, AppContact.app_id)
            .join(Link, Link.remote_contact_id == RemoteContact.id)
            .join(AppContact, AppContact.id == Link.app_contact_id)
            .order_by(Link.id)
            .limit(2)
        ).all()
    (gone_remote, gone_app), (archived_remote, archived_app) = pairs
    admin(sandbox, token, "POST", "/mutate", op="delete", id=gone_remote)
    admin(sandbox, token, "POST", "/mutate", op="archive", id=archived_remote)
    assert full_sync(workers, full=False).status == "succeeded"
    with db.session() as s:
        status = {row[0]: row[1] for row in s.execute(select(AppContact.app_id, AppContact.status))}
    assert status[gone_app] == "deleted_on_platform" and status[archived_app] == "archived"

    again = full_sync(workers)
    assert again.status == "succeeded" and again.created_remote == 0
    after = snapshot(sandbox, token)
    assert len(after) == len(before)  # the deleted contact was not created again
    assert after[gone_remote]["deleted"] is True
