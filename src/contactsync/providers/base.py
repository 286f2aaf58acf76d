"""The provider interface every dialect implements.

A walk is a sequence of `fetch_page` calls carrying an opaque `PageToken`. The token is plain JSON so the
fetch task can persist it after each page: a worker killed mid-walk resumes from the last committed page
rather than starting over, and a failed walk never advances the incremental watermark (the caller only does
that once the last page has been committed).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from contactsync.contact import CanonicalContact

PageToken = dict[str, Any]
# Asked with a page's records as {remote id: `providers.records.raw_digest`}, answers the remote ids whose mirrored
# row was mapped from that very record: the walk need not map them again (see `Provider.fetch_page`).
KnownRecords = Callable[[Mapping[str, str]], set[str]]


class WalkNotes(Protocol):
    """Remote ids a walk notes under a name for its later pages, kept outside its page token (which is written
    again with every page, so a list in it costs its size once per page). The fetch task keeps the notes of each
    page in that page's transaction (`models.WalkNote`): a resumed walk knows what its recorded pages noted."""

    def note(self, name: str, ids: Iterable[str]) -> None: ...

    def noted(self, name: str, ids: Collection[str]) -> set[str]:
        """Which of `ids` the walk noted under `name`, on this page or an earlier one."""
        ...


class NotesInMemory:
    """`WalkNotes` for a walk in one process (a test, a script): the notes live as long as this object."""

    def __init__(self) -> None:
        self.lists: dict[str, set[str]] = {}

    def note(self, name: str, ids: Iterable[str]) -> None:
        self.lists.setdefault(name, set()).update(ids)

    def noted(self, name: str, ids: Collection[str]) -> set[str]:
        return self.lists.get(name, set()) & set(ids)


@dataclass(frozen=True)
class ConnectionConfig:
    """What a provider needs to talk to one tenant's books. Secrets arrive decrypted, only in memory."""

    dialect: str
    base_url: str
    api_key: str
    account_token: str
    # Dialect options, e.g. {"idempotency": true}, {"resources": "split", "modified_param": "lastModifiedAt",
    # "company_id": "...", "environment_name": "..."}.
    options: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: float = 30.0
    # A whole request ends within this; a body larger than `max_response_bytes` is refused (see `bounded`).
    deadline_seconds: float = 120.0
    max_response_bytes: int = 32 * 1024 * 1024


@dataclass(frozen=True)
class Window:
    """Which changes a walk asks for. `modified_after=None` is a full walk."""

    modified_after: datetime | None = None
    modified_before: datetime | None = None
    include_deleted: bool = True


@dataclass(frozen=True)
class RefusedRecord:
    """A record that broke the contract, kept with a readable reason instead of crashing its page; the fetch task
    stores it as a `models.QuarantinedRecord` row."""

    reason: str
    remote_id: str | None
    excerpt: str


@dataclass(frozen=True)
class Page:
    contacts: list[CanonicalContact]
    quarantined: list[RefusedRecord]
    # None when the walk is complete.
    next_token: PageToken | None
    # Largest provider-clock modification time seen on this page (the watermark candidate).
    max_modified_at: datetime | None = None
    # On the last page: whether "not seen in this (full) walk" may be read as "deleted". False when the walk saw
    # the platform change under it, so that a row it may have missed is never taken for a deletion.
    infer_deletions: bool = True
    # Remote ids of records on the page that were not mapped because the mirror holds them as they are (only when
    # `fetch_page` was given `known`); they count in `max_modified_at` like the mapped ones.
    unchanged: list[str] = field(default_factory=list)
    # Whether the walk went back over rows it had read to serve this page: a cursor the server refused (Merge), or
    # rows that moved under a Maesn walk. Harmless for the data (a row read twice is mirrored once), but an
    # operator should see a platform whose cursors expire or whose list keeps moving: the run counts these.
    restarted: bool = False


class Provider(Protocol):
    """One tenant connection to one unified API. Every call may raise a `providers.errors.ProviderError`."""

    dialect: str
    # True when a repeated create with the same Idempotency-Key makes the platform replay its first answer, so a
    # create whose answer was lost may simply be sent again.
    idempotency: bool

    def fetch_page(
        self,
        window: Window,
        token: PageToken | None,
        known: KnownRecords | None = None,
        notes: WalkNotes | None = None,
    ) -> Page:
        """Fetch the page `token` points at (the first page when None). With `known`, a dialect whose mapping
        depends on the record alone may leave the records the mirror holds as they are unmapped (`Page.unchanged`);
        one that cannot tell ignores it. Mapping a re-read record was most of an incremental walk's CPU: the first
        walk after a full sync re-reads every contact the sync created or updated. With `notes`, a walk that must
        remember ids across its pages keeps them there instead of in its token (a walk begun with notes is resumed
        with them; without, it starts again)."""
        ...

    def get(self, remote_id: str) -> CanonicalContact: ...

    def search(self, *, name: str | None = None, email: str | None = None) -> list[CanonicalContact]:
        """Contacts matching an exact name or email; used to find a create whose response was lost."""
        ...

    def create(self, contact: CanonicalContact, *, idempotency_key: str | None = None) -> CanonicalContact: ...

    def update(self, remote_id: str, changes: dict[str, Any]) -> CanonicalContact:
        """Partial update: `changes` holds canonical field names (see `contact.SYNCED_FIELDS`) and values."""
        ...

    def sync_finished_at(self) -> datetime | None:
        """When the unified API last finished pulling from the platform (Merge /sync-status), if it says."""
        ...

    def close(self) -> None: ...
