"""The reconcile task decides as the batch matcher (`contactsync match`) does on the same data.

A generated tenant (companies from the sandbox seed, plus people with typos and swapped names, other members
of their households, and a holding company beside its operating company) is synced through real workers and
the sandbox; the links and review items the pipeline made are compared with `match_all` over the mirrored
contacts, read back from the database as the pipeline saw them.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from contactsync import db
from contactsync.contact import Address, CanonicalContact
from contactsync.demo import split_companies
from contactsync.matching import match_all
from contactsync.matchinput import match_record
from contactsync.models import AppContact, Link, RemoteContact, ReviewItem
from contactsync.sandbox.seed import companies
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.schedule import trigger_sync
from tests.conftest import Workers
from tests.pipeline import OLD, wait_run

pytestmark = pytest.mark.pipeline

PEOPLE = [
    ("Anna", "Keller"), ("Hans", "Brandt"), ("William", "Turner"), ("Julia", "Vogel"), ("Peter", "Hahn"),
    ("Sabine", "Lorenz"), ("Thomas", "Kraus"), ("Maria", "Berger"), ("Stefan", "Frank"), ("Laura", "Winter"),
]  # fmt: skip


def contact(name: str, street: str, postal: str, city: str, remote_id: str | None = None) -> CanonicalContact:
    address = Address(street_1=street, postal_code=postal, city=city, country="DE")
    return CanonicalContact(remote_id=remote_id, name=name, is_customer=True, addresses=(address,))


def extra_contacts() -> tuple[list[CanonicalContact], list[tuple[str, CanonicalContact]]]:
    remote: list[CanonicalContact] = []
    app: list[tuple[str, CanonicalContact]] = []
    for i, (given, surname) in enumerate(PEOPLE):
        street, postal, city = f"Lindenweg {i + 3}", f"{50660 + i}", "Köln"
        app.append((f"person-{i}", contact(f"{given} {surname}", street, postal, city)))
        typo = surname[:2] + surname[3] + surname[2] + surname[4:]
        remote.append(contact(f"{typo}, {given}", street.replace("weg", "wg."), postal, city, f"p{i}"))
        if i % 3 == 0:  # another member of the household, only on the platform
            remote.append(contact(f"Karl {surname}", street, postal, city, f"h{i}"))
    app.append(("glaser", contact("Glaser GmbH", "Industriestraße 7", "80331", "München")))
    remote.append(contact("Glaser Holding GmbH", "Industriestraße 7", "80331", "München", "s1"))
    remote.append(contact("Glaser GmbH", "Industriestr. 7", "80331", "München", "s2"))
    return remote, app


def test_reconcile_decides_as_the_batch_matcher(env: dict[str, str], workers: Workers, sandbox: Any) -> None:
    split = split_companies(companies(23, 120))
    more_remote, more_app = extra_contacts()
    body = {
        "token": "acct-m",
        "seed": 23,
        "count": 0,
        "contacts": [c.model_dump(mode="json") for c in [*split.remote, *more_remote]],
        "rate_limit_per_minute": 100_000,
        "faults": {},
    }
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=60).raise_for_status()
    with db.session() as s:
        upsert_tenant(
            s, "t1", name="Tenant", dialect="merge", base_url=f"{sandbox.url}/api/accounting/v1", api_key="k",
            account_token="acct-m", options={"rate_limit_per_minute": 100_000, "page_size": 50},
        )  # fmt: skip
        upsert_app_contacts(s, "t1", [*split.app, *more_app], updated_at=OLD)
    workers.start(2)
    run_id = trigger_sync("t1", full=True)
    assert run_id is not None
    run = wait_run(run_id, workers)
    assert run.status == "succeeded", run.error

    with db.session() as s:
        # The contacts the writer created afterwards were not on the platform when the pipeline reconciled.
        created = set(s.scalars(select(Link.remote_contact_id).where(Link.method == "created")))
        remotes = [r for r in s.scalars(select(RemoteContact).order_by(RemoteContact.id)) if r.id not in created]
        apps = list(s.scalars(select(AppContact).order_by(AppContact.id)))
        engine_links = {
            (str(r), str(a))
            for r, a in s.execute(
                select(Link.remote_contact_id, Link.app_contact_id).where(Link.decided_by == "engine")
            )
        }
        reviewed = {str(r) for r in s.scalars(select(ReviewItem.remote_contact_id))}
        names = {r.id: r.name for r in remotes}
    decisions = match_all(
        [match_record(str(r.id), r.data) for r in remotes], [match_record(str(a.id), a.data) for a in apps], workers=1
    )
    batch_links = {(d.left_id, d.right_id) for d in decisions if d.decision == "link"}
    batch_reviewed = {d.left_id for d in decisions if d.decision == "review"} - {left for left, _ in batch_links}
    assert engine_links == batch_links
    assert reviewed == batch_reviewed
    # And the decisions are the right ones for the cases this round is about.
    linked = {names[int(r)] for r, _ in engine_links}
    assert sum(name.endswith(f", {given}") for name in linked for given, _ in PEOPLE) == len(PEOPLE)
    assert not any(name.startswith("Karl ") for name in linked)  # household members
    assert "Glaser GmbH" in linked and "Glaser Holding GmbH" not in linked
