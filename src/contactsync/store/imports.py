"""Loading the app's contacts in bulk (the CLI's CSV import): batched, so a large file never holds one huge
statement, and refused for a tenant that does not exist rather than leaving orphan rows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from contactsync.appinput import AppInput
from contactsync.models import Tenant
from contactsync.store.contacts import upsert_app_contacts

BATCH = 1000


def import_app_contacts(s: Session, tenant_id: str, rows: Sequence[AppInput]) -> tuple[int, int]:
    """Upsert the rows as the tenant's app contacts; returns (created, changed)."""
    if s.get(Tenant, tenant_id) is None:
        raise LookupError(f"no tenant {tenant_id!r}; add it with `contactsync tenants add`")
    created, changed = 0, 0
    for start in range(0, len(rows), BATCH):
        c, u = upsert_app_contacts(s, tenant_id, rows[start : start + BATCH])
        created, changed = created + c, changed + u
    return created, changed
