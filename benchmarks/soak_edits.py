"""The soak's edits between runs: both sides of linked pairs, pairs edited on both sides, new contacts.

Every edit is recorded (side, field, value as the dialect carries it, time) so the end of the soak can check
that the newest edit of every pair holds on both sides.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from benchmarks.platform_check import linked_pairs
from benchmarks.profiles import PROFILES, Profile
from benchmarks.soak_check import Edit, Tally
from contactsync import db
from contactsync.contact import CanonicalContact
from contactsync.models import AppContact, Connection, RemoteContact
from contactsync.providers.registry import carried_content
from contactsync.sandbox.admin_client import SandboxAdmin
from contactsync.store.contacts import upsert_app_contacts

# The share of platform edits of a list field that clear it (never one already blank on either side, which would
# be no edit): a value cleared on the platform since the last sync must be cleared in the app (`sync.planning`).
CLEAR_SHARE = 0.15
# App edits clear as often on a connection that sends clearings (`send_clears`): the platform must hold the blank.
_CLEARABLE = ("phones", "emails", "addresses")


class NotYet(Exception):
    """The tenant's first run has not linked anything yet."""

    pass


def _carried(dialect: str, fieldname: str, value: Any) -> Any:
    return carried_content(dialect, {"name": "x", fieldname: value})[fieldname]


def _random_value(fieldname: str, rng: random.Random, *avoid: Any) -> Any:
    """A new value for the field, never one of `avoid` (the values either side holds): setting a field to what it
    already holds is no edit, moves no clock, and must not be expected to win anything."""
    if fieldname == "phones":
        return [{"number": f"+49 30 {rng.randrange(10**7, 10**8)}", "type": "work"}]
    if fieldname == "emails":
        return [f"s{rng.randrange(10**9)}@soak.example"]
    if fieldname == "addresses":  # a second line some platforms do not keep (profile merge-short)
        return [
            {
                "type": "billing",
                "street_1": f"{rng.randrange(1, 10**6)} Soak Street",
                "street_2": rng.choice((None, "Unit 4")),
                "city": "Berlin",
                "postal_code": f"{rng.randrange(10**4, 10**5)}",
                "country": "DE",
            }
        ]
    return rng.choice([c for c in ("EUR", "USD", "GBP", "CHF", "SEK") if c not in avoid])


class Editor:
    def __init__(self, args: argparse.Namespace, rng: random.Random, tally: Tally, admin: SandboxAdmin) -> None:
        self.args, self.rng, self.tally, self.admin = args, rng, tally, admin

    def edit(self, tenant: str) -> None:
        """One round for one tenant, which has no run: pairs edited on either side and on both, new contacts."""
        assert self.admin is not None
        token = "soak-" + tenant[1:]
        pairs = linked_pairs(tenant, {})
        if not pairs:
            raise NotYet(tenant)
        self.rng.shuffle(pairs)
        k = max(1, round(len(pairs) * self.args.edit_fraction))
        app_side, platform_side, both = pairs[:k], pairs[k : 2 * k], pairs[2 * k : 2 * k + 1]
        for pair in app_side:
            self._edit_app(tenant, pair.app_contact_id)
        for pair in platform_side:
            name = self.rng.choice(self._editable(tenant))
            self._edit_platform(tenant, token, pair.app_contact_id, pair.remote_id, [pair.app.get(name)], name)
        for pair in both:  # the same field on both sides: the later edit must win everywhere
            name = self.rng.choice(self._editable(tenant))
            first, second = ("app", "platform") if self.rng.random() < 0.5 else ("platform", "app")
            taken: list[Any] = [pair.app.get(name)]  # both sides hold this value now (synced between runs)
            for side in (first, second):
                if side == "app":
                    value = self._edit_app(tenant, pair.app_contact_id, name, taken)
                else:
                    value = self._edit_platform(tenant, token, pair.app_contact_id, pair.remote_id, taken, name)
                taken.append(value)  # the second edit differs from the first and from the original
                time.sleep(0.02)
        n = len(self.tally.added_app[tenant])
        app_id = f"soak-{tenant}-{n}"
        name = f"Soakco {tenant} {n} GmbH"
        contact = CanonicalContact(name=name, emails=(f"soak{n}@{tenant}.soak.example",), is_customer=True)
        with db.session() as s:
            upsert_app_contacts(s, tenant, [(app_id, contact)], updated_at=datetime.now(UTC))
        self.tally.added_app[tenant].append(app_id)
        self.tally.added_names[tenant][name.casefold()] += 1
        if self.rng.random() < 0.5:
            plat = f"Soakplat {tenant} {uuid.uuid4().hex[:6]} Ltd"
            self.admin.mutate(token, "add", contact=CanonicalContact(name=plat, is_supplier=True))
            self.tally.added_names[tenant][plat.casefold()] += 1

    def _edit_app(self, tenant: str, app_contact_id: int, name: str | None = None, taken: Sequence[Any] = ()) -> Any:
        name = name or self.rng.choice(self._editable(tenant))
        with db.session() as s:
            row = s.get(AppContact, app_contact_id)
            assert row is not None
            current = row.data.get(name)
            if self._clears(tenant, name) and not [v for v in (*taken, current) if not v]:
                value: Any = []  # the app's user clears the field, and the connection sends clearings
                self.tally.app_clears += 1
            else:
                value = _random_value(name, self.rng, current, *taken)
            contact = CanonicalContact.model_validate({**row.data, name: value})
            # The app states when its user edited the contact: that is the app's clock for "newer side wins".
            upsert_app_contacts(s, tenant, [(row.app_id, contact)], updated_at=datetime.now(UTC))
        self.tally.edits.append(
            Edit(tenant, app_contact_id, "app", name, self._carried(tenant, name, value), time.time())
        )
        return self._carried(tenant, name, value)

    def _clears(self, tenant: str, name: str) -> bool:
        """Whether this app edit clears the field: only on a connection that sends clearings."""
        sends = bool(self._profile(tenant).options.get("send_clears"))
        return sends and name in _CLEARABLE and self.rng.random() < CLEAR_SHARE

    def _editable(self, tenant: str) -> list[str]:
        """The fields the soak edits, of those the tenant's connection writes: an app edit of a field it cannot
        write stays in the app, and the newest edit then rightly holds on one side only."""
        written = self._profile(tenant).written()
        return [f for f in ("phones", "emails", "addresses", "currency") if f in written]

    def _profile(self, tenant: str) -> Profile:
        return PROFILES[self.tally.dialects.get(tenant, "merge")]

    def _carried(self, tenant: str, fieldname: str, value: Any) -> Any:
        """The value as the tenant's dialect carries it (what both sides are compared by at the end)."""
        return _carried(self._profile(tenant).dialect, fieldname, value)

    def _stated(self, tenant: str, stored: dict[str, Any]) -> float:
        """When the platform says its edit was made, by the clock the tenant's dialect reads (what "newer side wins"
        can go by). The sandbox's Merge API states the edit's own time (`remote_updated_at`); its Maesn API has one
        clock, `updatedDate`, the unified stamp, which for a contact created through the API waits until the contact
        is listed: an edit made inside that lag is stated later than it was made, so an app edit made just after it
        is rightly the older one."""
        key = "modified_at" if self._profile(tenant).dialect == "maesn" else "remote_updated_at"
        return datetime.fromisoformat(str(stored[key])).timestamp()

    def _walked(self, tenant: str, remote_id: str, name: str) -> Any:
        """The field as the last walk mirrored it (carried as the dialect does)."""
        with db.session() as s:
            data = s.scalar(
                select(RemoteContact.data)
                .join(Connection, Connection.id == RemoteContact.connection_id)
                .where(Connection.tenant_id == tenant, RemoteContact.remote_id == remote_id)
            )
        return None if data is None else self._carried(tenant, name, data.get(name))

    def _edit_platform(
        self, tenant: str, token: str, app_contact_id: int, remote_id: str, taken: Sequence[Any], name: str = ""
    ) -> Any:
        """Edit the platform's copy to a value none of `taken` (what the pair held when last synced, and so on).

        Nor the value the last walk saw: a platform shows a sync its contacts' states, not their edits, so an edit
        back to that value between two walks (EUR, GBP, EUR) looks like no edit to any sync, and an app edit made
        meanwhile would be expected to lose to what no sync can see. The app side reports its edits, so its edits
        and their undos are made (`store.contacts.upsert_app_contacts` keeps them)."""
        assert self.admin is not None
        name = name or self.rng.choice(self._editable(tenant))
        walked = self._walked(tenant, remote_id, name)
        if name in _CLEARABLE and self.rng.random() < CLEAR_SHARE and not [v for v in (*taken, walked) if not v]:
            value: Any = []  # the platform's user clears the field: a change the app must see too
            self.tally.platform_clears += 1
        else:
            value = _random_value(name, self.rng, *taken, walked)
        stored = self.admin.mutate(token, "edit", id=remote_id, changes={name: value})
        self.tally.edits.append(
            Edit(
                tenant,
                app_contact_id,
                "platform",
                name,
                self._carried(tenant, name, value),
                self._stated(tenant, stored),
            )
        )
        return self._carried(tenant, name, value)
