"""The app's contacts in: bulk upsert by the app's own id, read one, delete (archive) one.

Each record carries the app's own `updated_at`; a record not newer than what is stored (a retried or reordered
request) changes nothing, so the app can resend freely. Records are validated one by one: the invalid ones come
back with field paths, the valid ones are applied in the same request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from contactsync import db
from contactsync.api.deps import TenantId, not_found
from contactsync.appinput import AppInput
from contactsync.contact import CanonicalContact, unstated_in
from contactsync.models import AppContact, Connection, Link, RemoteContact
from contactsync.models.base import utcnow
from contactsync.providers.registry import carried_content, unwritable_fields
from contactsync.states import ContactStatus
from contactsync.store.contacts import drop_keys, upsert_app_contacts
from contactsync.sync.planning import cleared_by_app, kept_apart

router = APIRouter(prefix="/v1/tenants/{tenant_id}/contacts", tags=["contacts"])
MAX_BATCH = 5000
AppIdPath = Path(min_length=1, max_length=255, pattern=r"^[^\x00/]+$", description="The app's own contact id.")


class AppContactIn(BaseModel):
    """One of the app's contacts: the canonical contact's fields, `id` being the app's own."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00/]+$")
    updated_at: datetime = Field(description="The app's own clock for this record; older than stored = stale.")
    base_version: int | None = Field(
        default=None,
        ge=0,
        description="The contact `version` this record is based on (the last one the app applied from the changes "
        "feed or read here). With it, a field set back to a value the app stated before the platform's value "
        "reached it counts as the app's edit; a field that still holds a value the app stated before a later "
        "platform change does not.",
    )
    name: str
    emails: list[str] = Field(default_factory=list, max_length=50)
    phones: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    tax_number: str | None = None
    addresses: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    is_customer: bool = False
    is_supplier: bool = False
    status: str = ContactStatus.ACTIVE
    currency: str | None = None


class ContactBatch(BaseModel):
    contacts: list[dict[str, Any]] = Field(
        max_length=MAX_BATCH,
        description="Up to 5,000 records, each {id, updated_at, base_version?, name, emails, phones, tax_number, "
        "addresses, is_customer, is_supplier, status, currency}; each is validated on its own.",
    )


class RecordError(BaseModel):
    index: int
    id: str | None
    path: str
    message: str


class UpsertResult(BaseModel):
    created: int
    changed: int
    unchanged: int = Field(description="Same content, or stale (not newer than what is stored).")
    errors: list[RecordError]


class AppContactOut(BaseModel):
    id: str
    contact: dict[str, Any]
    updated_at: datetime
    version: int = Field(description="Grows with every change; send it back as `base_version` with an edit.")
    deleted: bool
    remote_id: str | None = Field(description="The platform's id, once linked or created there.")
    kept_apart: list[str] = Field(
        default_factory=list,
        description="Synced fields this contact holds a value of that the linked platform contact does not, and "
        "never will through contactsync: the connection cannot write them (Maesn v1 has no currency, status or "
        "roles; a `read_only_fields` option) or the platform's record does not state them. Also fields the app "
        "cleared that the platform still holds: a blank is never sent. Empty when not linked.",
    )


def _path(index: int, loc: tuple[int | str, ...]) -> str:
    out = f"contacts[{index}]"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _sql_safe(value: Any) -> bool:
    """PostgreSQL text and JSONB cannot hold NUL characters; such a record is refused, not a server error."""
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_sql_safe(k) and _sql_safe(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_sql_safe(v) for v in value)
    return True


def parse_batch(records: list[dict[str, Any]]) -> tuple[dict[str, AppInput], list[RecordError]]:
    """Valid records by app id (the newest wins when an id repeats), and the errors of the others."""
    good: dict[str, AppInput] = {}
    errors: list[RecordError] = []
    for i, raw in enumerate(records):
        app_id = raw.get("id") if isinstance(raw.get("id"), str) else None
        try:
            if not _sql_safe(raw):
                raise ValueError("text may not contain NUL characters")
            rec = AppContactIn.model_validate(raw)
            # Only the fields the record states: one it leaves out is unknown, not blank.
            contact = CanonicalContact.model_validate(
                rec.model_dump(exclude={"id", "updated_at", "base_version"}, exclude_unset=True)
            )
        except ValidationError as exc:
            for err in exc.errors():
                errors.append(RecordError(index=i, id=app_id, path=_path(i, err["loc"]), message=err["msg"]))
            continue
        except ValueError as exc:
            errors.append(RecordError(index=i, id=app_id, path=_path(i, ()), message=str(exc)))
            continue
        clock = rec.updated_at if rec.updated_at.tzinfo else rec.updated_at.replace(tzinfo=UTC)
        earlier = good.get(rec.id)
        if earlier is None or earlier.updated_at is None or earlier.updated_at < clock:
            good[rec.id] = AppInput(rec.id, contact, clock, base_version=rec.base_version)
    return good, errors


@router.put("", response_model=UpsertResult)
def upsert_contacts(tenant_id: TenantId, body: ContactBatch) -> UpsertResult:
    """Create or update up to 5,000 of the app's contacts by their app id."""
    good, errors = parse_batch(body.contacts)
    with db.session() as s:
        created, changed = upsert_app_contacts(s, tenant_id, list(good.values()))
    return UpsertResult(created=created, changed=changed, unchanged=len(good) - created - changed, errors=errors)


def _row(s: Session, tenant_id: str, app_id: str, *, lock: bool = False) -> AppContact:
    query = select(AppContact).where(AppContact.tenant_id == tenant_id, AppContact.app_id == app_id)
    row = s.scalar(query.with_for_update(key_share=True) if lock else query)
    if row is None:
        raise not_found("no such contact")
    return row


def _out(s: Session, row: AppContact) -> AppContactOut:
    linked = s.execute(
        select(RemoteContact, Connection)
        .join(Link, Link.remote_contact_id == RemoteContact.id)
        .join(Connection, Connection.id == RemoteContact.connection_id)
        .where(Link.app_contact_id == row.id)
    ).first()
    apart: list[str] = []
    if linked is not None:
        remote, conn = linked
        apart = kept_apart(
            carried_content(conn.dialect, row.data),
            carried_content(conn.dialect, remote.data),
            unwritable_fields(conn.dialect, conn.options),
            unstated_in(remote.data),
            remote.data,
            cleared_by_app(row.data, row.edited_fields, row.taken_in),
        )
    return AppContactOut(
        id=row.app_id,
        contact=row.data,
        updated_at=row.updated_at,
        version=row.version,
        deleted=row.deleted,
        remote_id=linked[0].remote_id if linked is not None else None,
        kept_apart=apart,
    )


@router.get("/{app_id}", response_model=AppContactOut)
def get_contact(tenant_id: TenantId, app_id: str = AppIdPath) -> AppContactOut:
    with db.session() as s:
        return _out(s, _row(s, tenant_id, app_id))


@router.delete("/{app_id}", response_model=AppContactOut)
def delete_contact(tenant_id: TenantId, app_id: str = AppIdPath) -> AppContactOut:
    """The app deleted this contact: it is archived on the platform by the next run where the platform allows
    archiving (never deleted there), and never created there again."""
    with db.session() as s:
        row = _row(s, tenant_id, app_id, lock=True)  # a run may be taking the platform's values in
        if not row.deleted:
            contact = CanonicalContact.model_validate({**row.data, "status": ContactStatus.ARCHIVED})
            row.data, row.content_hash = contact.content(), contact.content_hash()
            row.deleted, row.version, row.updated_at = True, row.version + 1, utcnow()
            drop_keys(s, [row.id])  # never a candidate now, nor counted as a key's holder
        return _out(s, row)
