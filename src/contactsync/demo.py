"""Demo tenants: deterministic company sets split between the application and the sandbox platform.

Each tenant's companies are cut into three groups — on both sides (the app's copy spelled a little differently,
sometimes with a newer phone number), only on the platform, only in the app — so one sync exercises linking,
updating and creating. The same seed always yields the same tenants, so running the demo twice shows that
nothing is created twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from contactsync.contact import CanonicalContact, Phone


@dataclass(frozen=True)
class DemoTenant:
    tenant_id: str
    name: str
    seed: int
    size: int

    @property
    def account_token(self) -> str:
        return f"acct-{self.tenant_id}"


DEMO_TENANTS = (
    DemoTenant("demo-bakery", "Bakery Schmidt (small)", seed=101, size=300),
    DemoTenant("demo-wholesale", "Wholesale Nord (medium)", seed=202, size=1200),
    DemoTenant("demo-logistics", "Logistics Europe (large)", seed=303, size=3000),
)


EDITED_PHONE_PREFIX = "+49 30 5550"
# The app's copies were last edited long ago, except the ones edited "today" (their phone has the prefix above).
APP_EDITED_AT = datetime(2024, 1, 15, tzinfo=UTC)


@dataclass(frozen=True)
class DemoSplit:
    remote: list[CanonicalContact]
    app: list[tuple[str, CanonicalContact]]
    both: int


def _app_variant(contact: CanonicalContact, i: int) -> CanonicalContact:
    """How an application's copy of a company typically differs from the bookkeeping's."""
    changes: dict[str, object] = {"remote_id": None, "remote_updated_at": None, "modified_at": None}
    if i % 4 == 0:
        changes["name"] = contact.name.upper()
    if i % 5 == 0 and contact.tax_number:
        changes["emails"] = ()
    if i % 10 == 0:
        changes["phones"] = (Phone(number=f"{EDITED_PHONE_PREFIX}{i % 10000:04d}", type="work"),)
    return contact.model_copy(update=changes)


def split_companies(companies: list[CanonicalContact]) -> DemoSplit:
    """Half on both sides, a quarter only on the platform, a quarter only in the app."""
    remote: list[CanonicalContact] = []
    app: list[tuple[str, CanonicalContact]] = []
    both = 0
    for i, company in enumerate(companies):
        bucket = i % 4
        if bucket in (0, 1):
            remote.append(company)
            app.append((f"app-{i:06d}", _app_variant(company, i)))
            both += 1
        elif bucket == 2:
            remote.append(company)
        else:
            app.append((f"app-{i:06d}", company.model_copy(update={"remote_id": None})))
    return DemoSplit(remote=remote, app=app, both=both)
