"""Reading a tenant's platform back and checking it against the app: what "nothing doubled, nothing lost" means
in every benchmark that syncs whole tenants.

The checks read the platform the way contactsync reads it (through the dialect's own provider, unthrottled),
so "the app and the platform agree" means agreement as the sync itself sees it, not as the sandbox stores it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from benchmarks.harness import TenantData
from contactsync import db
from contactsync.contact import SYNCED_FIELDS, CanonicalContact, unstated_in
from contactsync.models import AppContact, Connection, Link, RemoteContact, ReviewItem
from contactsync.providers.base import Window
from contactsync.providers.errors import RateLimited
from contactsync.providers.registry import carried_content, open_provider, written_fields
from contactsync.states import ReviewStatus
from contactsync.store.tenants import connection_config
from contactsync.sync.alike import agrees
from contactsync.sync.planning import CONFIRMED_BASES, IDENTITY_FIELDS, same_valid_tax_id


def read_platform(tenant_id: str) -> dict[str, CanonicalContact]:
    """Every contact on the tenant's platform by remote id, read by a full walk of the tenant's own provider."""
    with db.session() as s:
        conn = s.scalar(select(Connection).where(Connection.tenant_id == tenant_id))
        assert conn is not None
        config = connection_config(conn)
    provider = open_provider(config)
    out: dict[str, CanonicalContact] = {}
    token = None
    while True:
        try:
            page = provider.fetch_page(Window(), token)
        except RateLimited as exc:  # the check shares the tenant's platform limit, which the sync just used up
            time.sleep(exc.retry_after or 1.0)
            continue
        for c in page.contacts:
            if c.remote_id is not None:
                out[c.remote_id] = c
        token = page.next_token
        if token is None:
            break
    close = getattr(provider, "close", None)
    if callable(close):
        close()
    return out


def duplicates(platform: dict[str, CanonicalContact], expected: Counter[str]) -> tuple[int, list[str]]:
    """Live platform contacts beyond what a correct sync leaves, by name; with a few examples."""
    live = Counter(c.name.casefold() for c in platform.values() if not c.deleted)
    extra = {name: n - expected.get(name, 0) for name, n in live.items() if n > expected.get(name, 0)}
    return sum(extra.values()), sorted(extra)[:10]


@dataclass
class PairView:
    app_contact_id: int
    app_id: str
    remote_id: str
    app: dict[str, Any]
    platform: dict[str, Any] | None
    # Why contactsync may rightly leave this pair's identity (name, tax id) different on the two sides: the link
    # is not confirmed (a score alone may have linked a sister company: `sync.planning`'s guarded identity), or
    # a person has the pair in review. None: every difference is a change that should have arrived.
    identity_guard: str | None = None
    # The fields the connection can write (`providers.registry.written_fields`): only these must agree. Another
    # field keeps the platform's value by rule (Maesn's v1 schema has no currency, status or roles).
    written: frozenset[str] = frozenset(SYNCED_FIELDS)


def linked_pairs(tenant_id: str, platform: dict[str, CanonicalContact]) -> list[PairView]:
    """Each link of the tenant with both sides' content as the dialect carries it (None: gone from the platform)."""
    with db.session() as s:
        conn = s.scalar(select(Connection).where(Connection.tenant_id == tenant_id))
        assert conn is not None
        dialect = conn.dialect
        written = written_fields(dialect, conn.options)
        in_review = set(
            s.scalars(
                select(ReviewItem.remote_contact_id).where(
                    ReviewItem.tenant_id == tenant_id, ReviewItem.status == ReviewStatus.OPEN
                )
            )
        )
        rows = s.execute(
            select(AppContact.id, AppContact.app_id, AppContact.data, RemoteContact.remote_id, RemoteContact.id)
            .add_columns(Link.basis)
            .join(Link, Link.app_contact_id == AppContact.id)
            .join(RemoteContact, RemoteContact.id == Link.remote_contact_id)
            .where(Link.tenant_id == tenant_id, AppContact.deleted.is_(False))
        ).all()
    out = []
    for app_pk, app_id, data, remote_id, remote_pk, basis in rows:
        remote = platform.get(remote_id)
        view = None if remote is None or remote.deleted else carried_content(dialect, remote.content())
        app = carried_content(dialect, data)
        guard = None
        if remote_pk in in_review:
            guard = "in review"
        elif basis not in CONFIRMED_BASES and not (view is not None and same_valid_tax_id(app, view)):
            guard = f"link not confirmed ({basis})"
        out.append(PairView(app_pk, app_id, remote_id, app, view, guard, written))
    return out


def disagreeing(pairs: list[PairView]) -> list[tuple[PairView, list[str]]]:
    """Linked pairs whose two sides differ in a synced field their connection can write and the platform states
    (pairs whose platform contact is gone excepted), other than in how a value is written (`sync.alike`: the
    same tax id, emails or phone lines in another form, which a sync leaves as each side wrote it; phone types or
    address parts the platform leaves unsaid, `sync.alike.silent_alike`)."""
    bad = []
    for pair in pairs:
        if pair.platform is None:
            continue
        # A field the platform's record does not state (`CanonicalContact.unstated`) holds no value to agree with.
        unstated = unstated_in(pair.platform)
        fields = [
            f
            for f in SYNCED_FIELDS
            if f in pair.written
            and f not in unstated
            and pair.app.get(f) != pair.platform.get(f)
            and not agrees(f, pair.app, pair.platform)
        ]
        if fields:
            bad.append((pair, fields))
    return bad


def split_guarded(
    bad: list[tuple[PairView, list[str]]],
) -> tuple[list[tuple[PairView, list[str]]], list[tuple[PairView, list[str]]]]:
    """(lost, guarded): a pair that differs only in identity fields on a link whose identity contactsync must not
    write (not confirmed, or in review) is guarded, by rule, and reported apart; every other difference is lost."""
    lost, guarded = [], []
    for pair, fields in bad:
        if pair.identity_guard is not None and set(fields) <= set(IDENTITY_FIELDS):
            guarded.append((pair, fields))
        else:
            lost.append((pair, fields))
    return lost, guarded


def check_platforms(
    datas: list[TenantData], only: Collection[str] | None = None, *, examples: int = 3
) -> dict[str, int]:
    """Duplicates, lost pairs and identity-guarded pairs (see `split_guarded`) on the platform of each tenant `t<i>`
    seeded from `datas[i]` (those in `only`, when given), with a few examples of each printed: "nothing doubled,
    nothing lost", counted the same way by every benchmark that syncs whole tenants."""
    checked = dup_total = lost_total = guarded_total = 0
    for t, data in enumerate(datas):
        tenant = f"t{t}"
        if only is not None and tenant not in only:
            continue
        checked += 1
        platform = read_platform(tenant)
        dups, names = duplicates(platform, data.expected_names())
        bad, guarded = split_guarded(disagreeing(linked_pairs(tenant, platform)))
        dup_total += dups
        lost_total += len(bad)
        guarded_total += len(guarded)
        if dups:
            print(f"{tenant}: {dups} duplicate(s), e.g. {names}", flush=True)
        for pair, fields in bad[:examples]:
            print(f"{tenant}: pair {pair.app_id} / {pair.remote_id} disagrees in {fields}", flush=True)
        for pair, fields in guarded[:examples]:
            print(
                f"{tenant}: pair {pair.app_id} / {pair.remote_id} differs in {fields}: {pair.identity_guard}",
                flush=True,
            )
    return {
        "checked_tenants": checked,
        "duplicates": dup_total,
        "lost": lost_total,
        "identity_guarded": guarded_total,
    }
