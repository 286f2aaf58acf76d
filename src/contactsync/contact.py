"""The canonical contact: the one shape every provider dialect maps to and from.

Everything downstream of the providers (mirror, matching, write planning) sees only this model, so a new
dialect is a mapping module and nothing more. The raw payload travels beside the canonical fields so that what
a platform sent is never lost, but it is excluded from the content hash: two payloads that differ only in fields
contactsync does not model are the same contact for sync purposes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from contactsync import jsontext
from contactsync.states import ContactStatus
from contactsync.textform import composed

AddressType = Literal["billing", "shipping", "other"]

# Longest value any canonical text field may hold. Accounting platforms cap names at 100-500 characters; a
# longer value is a broken payload, and rejecting it keeps a 10 MB string out of the database and the matcher.
MAX_TEXT = 1000


# Every free-text field of the canonical contact, app's or platform's, is held in one Unicode form (NFC). A
# platform may store either form and hand back its own, so without one form a digest or a comparison sees an edit
# nobody made, and the echo of a create whose answer was lost looks like somebody else's contact (the create is
# sent again: a duplicate). Applied before the length limits, which then hold for the stored form: a few
# characters compose into more than one code point, and a value that fits only as sent would fail when read back.
Text = Annotated[str, BeforeValidator(composed)]


class Address(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: AddressType = "billing"
    street_1: Text | None = Field(default=None, max_length=MAX_TEXT)
    street_2: Text | None = Field(default=None, max_length=MAX_TEXT)
    city: Text | None = Field(default=None, max_length=MAX_TEXT)
    state: Text | None = Field(default=None, max_length=MAX_TEXT)
    postal_code: Text | None = Field(default=None, max_length=64)
    country: Text | None = Field(default=None, max_length=64, description="ISO 3166-1 alpha-2 where known")


class Phone(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    number: Text = Field(max_length=64)
    type: Text | None = Field(default=None, max_length=64)


class CanonicalContact(BaseModel):
    """A customer and/or supplier as contactsync understands it, independent of any platform."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    remote_id: str | None = Field(default=None, max_length=255)
    name: Text = Field(min_length=1, max_length=MAX_TEXT)
    is_customer: bool = False
    is_supplier: bool = False
    emails: tuple[Text, ...] = ()
    tax_number: Text | None = Field(default=None, max_length=64)
    phones: tuple[Phone, ...] = ()
    addresses: tuple[Address, ...] = ()
    status: ContactStatus = ContactStatus.ACTIVE
    currency: Text | None = Field(default=None, max_length=8)
    # The platform's own clock (e.g. Xero's UpdatedDateUTC); used to decide which side is newer.
    remote_updated_at: datetime | None = None
    # The unified API's clock (Merge's modified_at); the only clock incremental watermarks may come from.
    modified_at: datetime | None = None
    deleted: bool = False
    # Fields the platform's record does not state (`STATABLE`): Merge's null `is_customer` from a platform without
    # the notion, a Maesn list that names no roles or status. Their value above is only the model's default ("no
    # role", "active"), which nobody said: planning never takes it into the app (`sync.planning`). Always empty
    # for the app's side.
    unstated: tuple[str, ...] = ()
    raw: dict[str, Any] | None = Field(default=None, exclude=True, repr=False)

    @field_validator("unstated")
    @classmethod
    def _statable(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(value) - set(STATABLE)
        if unknown:
            raise ValueError(f"only {', '.join(STATABLE)} can be unstated, not {', '.join(sorted(unknown))}")
        return tuple(sorted(set(value)))

    def content(self) -> dict[str, Any]:
        """The fields that are synced, as plain JSON-able data (no ids, clocks or raw payload). `unstated` only
        where a field is: the content (and its hash) of every contact whose record states everything stays what
        it was before the marker existed."""
        exclude = {"remote_id", "remote_updated_at", "modified_at", "raw"}
        if not self.unstated:
            exclude.add("unstated")
        return self.model_dump(mode="json", exclude=exclude)

    def synced(self, leave_out: frozenset[str] = frozenset()) -> dict[str, Any]:
        """The synced fields of `content()`, less `leave_out`: what a write of the whole contact sends (a
        connection's `read_only_fields` are left out)."""
        return {k: v for k, v in self.content().items() if k in SYNCED_FIELDS and k not in leave_out}

    def content_hash(self) -> str:
        """A stable digest of the synced fields: equal hashes mean nothing worth syncing changed."""
        return content_digest(self.content())


def content_digest(content: dict[str, Any]) -> str:
    """`CanonicalContact.content_hash` of a contact whose `content()` the caller holds already (a fetched page
    mirrors both, and dumping the model is most of the cost)."""
    return hashlib.sha256(jsontext.sorted_bytes(content)).hexdigest()


SYNCED_FIELDS: tuple[str, ...] = (
    "name",
    "is_customer",
    "is_supplier",
    "emails",
    "tax_number",
    "phones",
    "addresses",
    "status",
    "currency",
)

# The synced fields whose model default reads as a value (False, "active"): a record can leave them unstated.
STATABLE: tuple[str, ...] = ("is_customer", "is_supplier", "status")


def unstated_in(content: Mapping[str, Any]) -> frozenset[str]:
    """The fields a stored contact's content marks `unstated` (none where the key is left out)."""
    return frozenset(content.get("unstated") or ())
