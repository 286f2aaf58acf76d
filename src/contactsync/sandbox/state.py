"""The sandbox's in-memory books: accounts, their contacts, the provider clock, and what was asked of them.

Both dialects read and write the same `Account`, so a contact created through Merge's API is visible
through Maesn's and the other way round. Every change goes through `Account.mutate_*`, which stamps the
provider clock, so tests can reason about incremental windows exactly as they would against a real
unified API.

All methods take the account's lock: the app serves requests from an event loop while tests mutate accounts
from their own threads.
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from operator import attrgetter
from typing import Any, Literal

from pydantic import ValidationError

from contactsync.contact import SYNCED_FIELDS, CanonicalContact
from contactsync.sandbox.address import AddressLimit
from contactsync.sandbox.faults import Faults
from contactsync.sandbox.seed import companies
from contactsync.sandbox.variants import validate as validate_variant

_SEQ = attrgetter("seq")

EventKind = Literal["created", "updated", "deleted"]
Listener = Callable[["Account", EventKind, "StoredContact"], None]


class WriteRejected(Exception):
    """A write the platform refuses (validation, duplicate name); dialects render it as their 400."""

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(f"{title}: {detail}")
        self.title = title
        self.detail = detail


class UnknownContact(KeyError):
    pass


@dataclass
class WebhookTarget:
    url: str
    secret: str
    scheme: Literal["merge", "maesn"] = "merge"


@dataclass
class StoredContact:
    id: str
    platform_id: str
    seq: int
    contact: CanonicalContact
    created_at: datetime
    modified_at: datetime
    remote_updated_at: datetime
    deleted: bool = False
    # Until then the contact is missing from list and search results (see `Faults.visibility_lag_ms`).
    visible_at: datetime | None = None
    # A contract-breaking payload served verbatim instead of the contact, per dialect.
    broken: dict[str, Any] | None = None


@dataclass
class Account:
    token: str
    seed: int = 0
    api_key: str | None = None
    revoked: bool = False
    rate_limit_per_minute: int | None = None
    # "retry-after": Retry-After seconds; "xero": X-Rate-Limit-Problem and friends; "none": nothing to go on.
    rate_limit_headers: str = "retry-after"
    # Requests the platform serves at once for this account (Xero 5, QuickBooks 10, a NetSuite account's
    # concurrency limit); one more is answered 429 ("concurrent" in Xero's words). None: no limit.
    max_concurrent: int | None = None
    faults: Faults = field(default_factory=Faults)
    idempotency: bool = False
    unique_names: bool = False
    webhook: WebhookTarget | None = None
    # When set, Maesn calls must carry this companyId (as Business Central's do).
    company_id: str | None = None
    # The end user's origin id given when the account was linked through Merge Link (webhooks name it).
    origin_id: str | None = None
    # The accounting platform behind the linked account, as Merge's Link names it (`integration.slug`).
    platform: str = "sandbox"
    # How this account's answers differ from the documented shapes (see `sandbox.variants`).
    variant: dict[str, Any] = field(default_factory=dict)
    # Maesn async tasks handed out by a create: task id -> (polls so far, created contact id).
    tasks: dict[str, list[Any]] = field(default_factory=dict, repr=False)
    contacts: dict[str, StoredContact] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    concurrency_limited: int = 0  # 429s for requests beyond `max_concurrent` (not in `rate_limited`)
    in_flight: int = 0
    most_in_flight: int = 0
    # Faults injected so far, by kind (see `sandbox.gate`), so a soak can say how many it survived.
    injected: Counter[str] = field(default_factory=Counter)
    creates: int = 0
    writes_admitted: int = 0  # write requests past auth and rate limit (see `Faults.stall_writes_after`)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    listeners: list[Callable[[Account, EventKind, StoredContact], None]] = field(default_factory=list, repr=False)
    _clock: datetime = field(default_factory=lambda: datetime.now(UTC))
    _seq: int = 0
    _order: list[StoredContact] = field(default_factory=list, repr=False)
    _window: deque[float] = field(default_factory=deque, repr=False)
    _idempotent: dict[str, tuple[str, int, Any]] = field(default_factory=dict, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    # -- the provider clock -------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The provider clock: real UTC time, but never behind a stamp already handed out."""
        with self.lock:
            return max(datetime.now(UTC), self._clock)

    def _stamp(self, backdate_ms: float = 0) -> datetime:
        with self.lock:
            now = datetime.now(UTC)
            self._clock = now if now > self._clock else self._clock + timedelta(microseconds=1)
            skew = backdate_ms
            if self.faults.clock_skew_ms:
                skew += self.rng.randint(0, self.faults.clock_skew_ms)
            return self._clock - timedelta(milliseconds=skew)

    # -- rate limiting and accounting ---------------------------------------------------------------------

    def admit(self, route: str, now: float) -> float | None:
        """Count a request; return None to serve it or the seconds until a slot frees up (a 429)."""
        with self.lock:
            self.requests[route] += 1
            limit = self.rate_limit_per_minute
            if not limit:
                return None
            while self._window and self._window[0] <= now - 60.0:
                self._window.popleft()
            if len(self._window) >= limit:
                self.rate_limited += 1
                return max(0.001, self._window[0] + 60.0 - now)
            self._window.append(now)
            return None

    def enter(self) -> bool:
        """A request starts being served, if the account's concurrency limit admits it (then `leave` follows)."""
        with self.lock:
            if self.max_concurrent is not None and self.in_flight >= self.max_concurrent:
                self.concurrency_limited += 1
                return False
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            return True

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def idempotent_replay(self, key: str, body: bytes) -> tuple[int, Any] | None:
        """The stored answer for a repeated Idempotency-Key; a key reused with another body is refused."""
        digest = hashlib.sha256(body).hexdigest()
        with self.lock:
            seen = self._idempotent.get(key)
            if seen is None:
                return None
            if seen[0] != digest:
                raise WriteRejected("Idempotency key reused", "this Idempotency-Key was used with another body")
            return seen[1], seen[2]

    def remember_idempotent(self, key: str, body: bytes, status: int, payload: Any) -> None:
        with self.lock:
            self._idempotent[key] = (hashlib.sha256(body).hexdigest(), status, payload)

    # -- reads ----------------------------------------------------------------------------------------------

    def ordered(self) -> list[StoredContact]:
        return list(self._in_order())

    def _in_order(self) -> list[StoredContact]:
        """The contacts by seq, kept between calls (never changed in place: a caller may go on reading the old
        list). Contacts are only ever added, so a new count is the only sign of a change; edits keep their seq."""
        with self.lock:
            if len(self._order) != len(self.contacts):
                self._order = sorted(self.contacts.values(), key=_SEQ)
            return self._order

    def listed(self) -> list[StoredContact]:
        """What list and search results show now: everything but contacts still inside their visibility lag."""
        return list(self.listed_after(0))

    def listed_after(self, seq: int) -> Iterator[StoredContact]:
        """`listed()` from the first contact after `seq` on, read as the caller goes: a cursor's page reads from
        where the cursor points up to what the page takes. Sorting and reading the whole account for every page
        made a walk cost the square of the account: 2.6 CPU s for one walk of 30,000 contacts, now 0.02 s."""
        now = datetime.now(UTC)
        order = self._in_order()
        for stored in islice(order, bisect_right(order, seq, key=_SEQ), None):
            if stored.visible_at is None or stored.visible_at <= now:
                yield stored

    def get(self, contact_id: str) -> StoredContact:
        with self.lock:
            stored = self.contacts.get(contact_id)
            if stored is None or stored.broken is not None:
                raise UnknownContact(contact_id)
            return stored

    def stats(self) -> dict[str, Any]:
        with self.lock:
            live = [s for s in self.contacts.values() if not s.deleted and s.broken is None]
            names = Counter(s.contact.name.strip().casefold() for s in live)
            taxes = Counter(s.contact.tax_number for s in live if s.contact.tax_number)
            return {
                "contacts": len(live),
                "duplicate_names": sum(n - 1 for n in names.values() if n > 1),
                "duplicate_tax_numbers": sum(n - 1 for n in taxes.values() if n > 1),
                "requests": dict(self.requests),
                "rate_limited": self.rate_limited,
                "concurrency_limited": self.concurrency_limited,
                "most_in_flight": self.most_in_flight,
                "injected": dict(self.injected),
                "creates": self.creates,
                "broken": sum(1 for s in self.contacts.values() if s.broken is not None),
            }

    # -- writes ---------------------------------------------------------------------------------------------

    def _check_name(self, name: str, exclude: str | None) -> None:
        if not self.unique_names:
            return
        key = name.strip().casefold()
        for other in self.contacts.values():
            if other.id != exclude and not other.deleted and other.contact.name.strip().casefold() == key:
                raise WriteRejected(
                    "Duplicate Name Exists Error",
                    f"The name supplied already exists. Another customer, vendor or employee is already "
                    f"using this name ({other.id}). (6240)",
                )

    def _emit(self, kind: EventKind, stored: StoredContact) -> None:
        for listener in list(self.listeners):
            listener(self, kind, stored)

    def _next_ids(self) -> tuple[str, str, int]:
        self._seq += 1
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), str(10000 + self._seq), self._seq

    def mutate_add(self, contact: CanonicalContact, *, backdate_ms: float = 0, via_api: bool = False) -> StoredContact:
        if via_api and self.faults.ignored_on_write:
            fields = CanonicalContact.model_fields
            contact = contact.model_copy(update={f: fields[f].default for f in self.faults.ignored_on_write})
        with self.lock:
            self._check_name(contact.name, None)
            contact_id, platform_id, seq = self._next_ids()
            stamp = self._stamp(backdate_ms)
            stored = StoredContact(
                id=contact_id,
                platform_id=platform_id,
                seq=seq,
                contact=_synced_only(contact),
                created_at=stamp,
                modified_at=stamp,
                remote_updated_at=stamp,
                deleted=contact.deleted,
            )
            if via_api and self.faults.visibility_lag_ms:
                stored.visible_at = stamp + timedelta(milliseconds=self.faults.visibility_lag_ms)
                stored.modified_at = stored.visible_at
            self.contacts[contact_id] = stored
            if via_api:
                self.creates += 1
            self._emit("created", stored)
            return stored

    def mutate_edit(
        self, contact_id: str, changes: dict[str, Any], *, backdate_ms: float = 0, via_api: bool = False
    ) -> StoredContact:
        if via_api:
            changes = {k: v for k, v in changes.items() if k not in self.faults.ignored_on_write}
        with self.lock:
            stored = self.get(contact_id)
            unknown = set(changes) - set(SYNCED_FIELDS)
            if unknown:
                raise WriteRejected("Unknown fields", f"cannot change {sorted(unknown)}")
            merged = stored.contact.model_dump(mode="json") | changes
            try:
                updated = CanonicalContact.model_validate(merged)
            except ValidationError as exc:
                raise WriteRejected("Invalid contact", str(exc)) from exc
            if "name" in changes:
                self._check_name(updated.name, contact_id)
            stamp = self._stamp(backdate_ms)
            stored.contact = _synced_only(updated)
            # The platform's own edit time is the edit's; only the unified API's stamp waits for the contact to be
            # stored there (a platform edit made meanwhile is still older than an app edit made after it).
            stored.remote_updated_at = stamp
            stored.modified_at = max(stamp, stored.visible_at) if stored.visible_at is not None else stamp
            self._emit("updated", stored)
            return stored

    def mutate_delete(self, contact_id: str, *, backdate_ms: float = 0) -> StoredContact:
        with self.lock:
            stored = self.get(contact_id)
            stored.deleted = True
            stored.modified_at = self._stamp(backdate_ms)
            self._emit("deleted", stored)
            return stored

    def add_broken(self, payloads: dict[str, Any], *, backdate_ms: float = 0) -> StoredContact:
        """A record whose payload breaks the contract, for quarantine tests."""
        with self.lock:
            contact_id, platform_id, seq = self._next_ids()
            stamp = self._stamp(backdate_ms)
            stored = StoredContact(
                id=contact_id,
                platform_id=platform_id,
                seq=seq,
                contact=CanonicalContact(name="(broken)"),
                created_at=stamp,
                modified_at=stamp,
                remote_updated_at=stamp,
                broken=payloads,
            )
            self.contacts[contact_id] = stored
            return stored

    def seed_contacts(self, seed: int, count: int, explicit: list[CanonicalContact], age_s: float = 3600.0) -> None:
        """Load the initial books, stamped over the past `age_s` as if they had been there a while."""
        with self.lock:
            initial = [*companies(seed, count), *explicit]
            step_ms = age_s * 1000.0 / max(1, len(initial))
            # Books that predate the uniqueness rule may hold duplicates, as real ones do.
            unique, self.unique_names = self.unique_names, False
            try:
                for index, contact in enumerate(initial):
                    self.mutate_add(contact, backdate_ms=(len(initial) - index) * step_ms)
            finally:
                self.unique_names = unique


def _synced_only(contact: CanonicalContact) -> CanonicalContact:
    return CanonicalContact.model_validate(contact.content() | {"deleted": False})


class SandboxState:
    """Every account of one sandbox, by account token. Thread-safe."""

    def __init__(self, webhooks: Listener | None = None) -> None:
        self._lock = threading.Lock()
        self._accounts: dict[str, Account] = {}
        # Merge's limit on failed requests from one address (off unless set; its Merge API applies it).
        self.address = AddressLimit()
        # The webhook sender is handed in (`sandbox.app.new_state` does it): it renders payloads with the dialect
        # modules, which build on this one.
        self.webhooks = webhooks
        self.listeners: list[Listener] = [webhooks] if webhooks is not None else []

    def create_account(self, spec: dict[str, Any]) -> Account:
        """Create (or replace) the account described by the admin API's JSON."""
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty string")
        seed = int(spec.get("seed", 0))
        account = Account(token=token, seed=seed, rng=random.Random(f"{token}:{seed}"))
        apply_settings(account, spec)
        explicit = [CanonicalContact.model_validate(c) for c in spec.get("contacts") or []]
        age = float(spec.get("seed_age_s", 3600.0))
        account.seed_contacts(seed, int(spec.get("count", 0)), explicit, age)
        deleted = int(spec.get("deleted_count", 0))
        for stored in account.ordered()[:deleted]:
            account.mutate_delete(stored.id)
        # Listeners join after the initial books are loaded: seeding is history, not news.
        account.listeners.extend(self.listeners)
        with self._lock:
            self._accounts[token] = account
        return account

    def get(self, token: str) -> Account | None:
        with self._lock:
            return self._accounts.get(token)

    def accounts(self) -> list[Account]:
        with self._lock:
            return list(self._accounts.values())


_SETTINGS = (
    "api_key",
    "revoked",
    "rate_limit_per_minute",
    "rate_limit_headers",
    "max_concurrent",
    "idempotency",
    "unique_names",
    "company_id",
    "platform",
)


def apply_settings(account: Account, spec: dict[str, Any]) -> None:
    """Apply the mutable settings of an admin payload (used by both create and PATCH)."""
    with account.lock:
        for key in _SETTINGS:
            if key in spec:
                setattr(account, key, spec[key])
        if "faults" in spec:
            account.faults = Faults.from_json(spec["faults"], account.faults)
        if "webhook" in spec:
            hook = spec["webhook"]
            account.webhook = WebhookTarget(**hook) if hook else None
        if "rate_limit_per_minute" in spec:
            account._window.clear()
        limit = spec.get("max_concurrent")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError("max_concurrent must be a positive integer or null")
        if "variant" in spec:
            account.variant = validate_variant(spec["variant"])
