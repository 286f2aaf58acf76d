"""The Maesn accounting dialect.

Options (`ConnectionConfig.options`):
- `resources` ("contacts" | "split", default "contacts"): walk `/accounting/contacts`, or the `/customers` +
  `/suppliers` pair for systems without a unified contact list. In "split" a contact on both lists is one
  contact with both roles: the walk first reads supplier ids (token field `suppliers`), then emits customers
  with their supplier role known, then the suppliers not already emitted. Suppliers are read twice; that is
  the price of knowing both roles without holding records in the token.
- `modified_param` ("lastModified" | "lastModifiedAt", default "lastModified"): Maesn's documents and SDK name
  the incremental filter differently; both mean "modified at that time or later" (inclusive).
- `company_id`, `environment_name`: sent as `companyId` / `environmentName` on every call when set (Business
  Central and similar need them).
- `limit` (5, 10, 20, 50 or 100; default 100): page size.
- `update_method` ("PATCH" | "PUT", default "PATCH"): PUT sends the whole record (read, merge, write).
- `api_version` ("v1" | "v2", default "v1"): v2 walks and writes `/accounting/v2/contacts` (roles as
  `isCustomer`/`isSupplier`, no `vatId`); v1 writes `vatId` and says roles only through the resource.
- `max_passes` (int, default 3; `max_rewalks` is read as well): how many page-number passes a list may take
  when rows keep moving under it before the walk gives up with `WalkIncomplete` (see `maesn_walk`).
- `search_pages` (int, default 50): how many pages `search` scans per list; a longer list makes the look-up
  `LookupIncomplete` (unknown), never "not found".
- `default_retry_after` (float seconds, default 60).
- `first_page` ("auto" | 0 | 1, default "auto"): the number of a list's first page. In "auto" the first request
  of a list names no page, so the server serves its own first page, and its `currentPage` (0 or 1) tells the
  base; a server that does not say is taken to count from 1, as Maesn documents.
- `async_wait_seconds` (float, default 10): how long a write answered with a `taskId` is polled at
  `/asyncTask/{taskId}` before giving up with `Transient` (the ledger then looks before sending it again).

Page numbers are not cursors: `maesn_walk` reads each list by change time where the server allows it and by
page number with drift detection where it does not (`walk_rules` says why). Maesn exposes no deleted flag, so
deletions are only learnt from a complete full walk that saw the platform still (ids not seen), never from an
incremental one. Write bodies hold only the fields and enum values the version documents (`maesn_mapping`);
a change to a field it cannot carry (status, currency) is left as the platform has it.
Maesn has no `Idempotency-Key`; `create` ignores the key and relies on `search`.
`search` has no server-side filter to use, so it scans newest pages first (a create whose answer was lost sits
at the end of the list) up to `search_pages` pages per list.

Envelopes other servers use are read as well: a bare list; `data` holding `items`/`content`/`records`/`results`;
the pagination under `meta.pagination`, `meta`, `pagination`, inside `data` or at the top level, with the keys
spelled `total`/`totalCount`/`totalElements`/`totalItems`, `totalPages`/`pages`/`pageCount`/`lastPage`,
`currentPage`/`page`/`number`/`pageNumber`, `perPage`/`limit`/`pageSize`/`size`. Without pagination a page
shorter than the page size (or empty) ends the list, and a page identical to the one before (a server that
ignores `page`) ends it too, so no walk can loop. A shape with no list to be found is `Transient`. Writes accept
the record bare or in `data`, an answer holding only an `id` (or nothing but a `Location`), which is then read
back, and a `taskId`, which is polled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from contactsync.contact import SYNCED_FIELDS, CanonicalContact
from contactsync.providers import maesn_wire as wire
from contactsync.providers import records
from contactsync.providers.base import ConnectionConfig
from contactsync.providers.errors import LookupIncomplete, NotFound, Permanent, RecordError, Transient
from contactsync.providers.http import HttpCaller, Throttle, body_or_none
from contactsync.providers.maesn_mapping import WRITABLE, from_maesn, to_maesn
from contactsync.providers.maesn_walk import MaesnWalk
from contactsync.providers.options import MaesnOptions

log = logging.getLogger(__name__)


def written_by_maesn(options: MaesnOptions) -> frozenset[str]:
    """The synced fields an update of a Maesn connection with these options can write: the version's write
    schema. With `resources=split` a create still says the roles through the list it posts to, but an update
    cannot move a contact between /customers and /suppliers. A field outside it keeps the platform's value,
    whatever the app holds: it is never a change that failed to travel."""
    return WRITABLE[options.api_version or "v1"]


class MaesnProvider(MaesnWalk):
    dialect = "maesn"
    idempotency = False  # Maesn has no Idempotency-Key: a lost create is found with `search`

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        throttle: Throttle | None = None,
        transport: httpx.BaseTransport | None = None,
        on_request: Callable[[httpx.Request], None] | None = None,
    ) -> None:
        options = MaesnOptions.loaded(config.options)
        self.config = config
        self.split = options.resources == "split"
        self.version = options.api_version or "v1"
        self.list_prefix = "/accounting/v2" if self.version == "v2" else "/accounting"
        self.modified_param = options.modified_param or "lastModified"
        self.limit = options.limit or 100
        self.update_method = options.update_method or "PATCH"
        self.read_only = frozenset(options.read_only_fields or ())  # left out of creates (`MergeProvider`'s why)
        passes = options.max_passes if options.max_passes is not None else options.max_rewalks
        self.max_passes = max(1, 3 if passes is None else passes)
        self.search_pages = 50 if options.search_pages is None else options.search_pages
        first = options.first_page
        self.first_page: int | None = None if first is None or first == "auto" else int(first)
        self.async_wait = 10.0 if options.async_wait_seconds is None else options.async_wait_seconds
        self._sleep: Callable[[float], None] = time.sleep
        self.scope: dict[str, str] = {}
        if options.company_id:
            self.scope["companyId"] = options.company_id
        if options.environment_name:
            self.scope["environmentName"] = options.environment_name
        self.http = HttpCaller.for_connection(
            config,
            {"X-API-KEY": config.api_key, "X-ACCOUNT-KEY": config.account_token},
            throttle=throttle,
            transport=transport,
            label="maesn",
            on_request=on_request,
        )

    def sync_finished_at(self) -> datetime | None:
        """Maesn reads the platform live and reports no sync runs."""
        return None

    # -- single records -----------------------------------------------------------------------------------

    def get(self, remote_id: str) -> CanonicalContact:
        if not self.split:
            return wire.one(self.http.json("GET", f"{self.list_prefix}/contacts/{remote_id}", params=self.scope), None)
        found: dict[str, Any] = {}
        for kind in ("customers", "suppliers"):
            try:
                found[kind] = self.http.json("GET", f"/accounting/{kind}/{remote_id}", params=self.scope)
            except NotFound:
                continue
        if not found:
            raise NotFound(f"maesn: contact {remote_id} is neither a customer nor a supplier")
        body = found.get("customers") or found["suppliers"]
        return wire.one(body, ("customers" in found, "suppliers" in found))

    def search(self, *, name: str | None = None, email: str | None = None) -> list[CanonicalContact]:
        if name is None and email is None:
            raise ValueError("search needs a name or an email")
        hits: set[str] = set()
        for resource in ("customers", "suppliers") if self.split else ("contacts",):
            hits |= self._scan(resource, name, email)
        return [self.get(remote_id) for remote_id in sorted(hits)]

    def _scan(self, resource: str, name: str | None, email: str | None) -> set[str]:
        params = {"limit": 100, **self.scope}
        page: int | None = self.first_page
        pages: list[int] | None = None
        hits: set[str] = set()
        seen: str | None = None
        for _ in range(self.search_pages):
            response, page = self._list(resource, params, page)
            shape = wire.page_body(response)
            for record in shape.items:
                try:
                    contact = from_maesn(record, roles=(False, False))
                except RecordError:
                    continue
                if (name is not None and records.same_text(contact.name, name)) or (
                    email is not None and any(records.same_text(own, email) for own in contact.emails)
                ):
                    hits.add(contact.remote_id or "")
            base = shape.current if page is None and shape.current in (0, 1) else (1 if page is None else None)
            if pages is None:
                first = base if base is not None else (page if page is not None else 1)
                last = shape.last_page(first, 100)
                if last is None:
                    # Unknown length: read forwards until a short page, a repeated page or the page budget.
                    fingerprint = wire.fingerprint(shape.items)
                    served = shape.current if shape.current is not None else (page if page is not None else first)
                    if not shape.more(served, first, 100) or fingerprint == seen:
                        return hits
                    seen, page = fingerprint, served + 1
                    continue
                pages = list(range(last, first, -1))
            if not pages:
                return hits
            page = pages.pop(0)
        # What was not read is unknown, not absent: a lost create must not be sent again on this evidence.
        raise LookupIncomplete(f"maesn: the look-up stopped after {self.search_pages} pages of /{resource}")

    def create(self, contact: CanonicalContact, *, idempotency_key: str | None = None) -> CanonicalContact:
        body = to_maesn(contact.synced(self.read_only), version=self.version, whole=True)
        roles: tuple[bool, bool] | None = None
        kind = "contacts"
        if self.split:
            kind = "customers" if contact.is_customer else "suppliers"
            roles = (contact.is_customer, contact.is_supplier)
            if "is_supplier" not in WRITABLE[self.version]:
                # The list posted to is the only role such a write says (v1 has no flags): a customer who is a
                # supplier too is created a customer, and its later walks list it so. Its answer read as both
                # would be a platform "change" at the next walk, taken into the app as the supplier role dropped.
                roles = (kind == "customers", kind == "suppliers")
        response = self.http.request("POST", f"{self.list_prefix}/{kind}", params=self.scope, json_body=body)
        written, remote_id = self._written(response, "POST", roles)
        if written is not None:
            return written
        if remote_id is None:
            raise Transient(
                f"maesn: POST {self.list_prefix}/{kind} answered {response.status_code} without a contact id; "
                "the create may have happened",
                status=response.status_code,
            )
        return self.get(remote_id)

    def update(self, remote_id: str, changes: dict[str, Any]) -> CanonicalContact:
        unknown = set(changes) - set(SYNCED_FIELDS)
        if unknown:
            raise ValueError(f"not synced fields: {sorted(unknown)}")
        if not set(changes) & WRITABLE[self.version]:
            # Nothing here that this version's write schema can carry (a status, a currency, v1 roles on
            # /contacts): sending an empty or off-schema body would change nothing or be refused.
            log.info("maesn %s cannot write %s; left as the platform has it", self.version, sorted(changes))
            return self.get(remote_id)
        current = self.get(remote_id) if self.split or self.update_method == "PUT" else None
        if self.update_method == "PUT" and current is not None:
            full = current.synced() | changes
            method, body = "PUT", to_maesn(full, version=self.version, whole=True)
        else:
            method, body = "PATCH", to_maesn(changes, version=self.version)
        kind = "contacts"
        roles = None
        if self.split and current is not None:
            kind = "customers" if current.is_customer else "suppliers"
            merged = current.content() | changes
            roles = (bool(merged["is_customer"]), bool(merged["is_supplier"]))
        path = f"{self.list_prefix}/{kind}/{remote_id}"
        response = self.http.request(method, path, params=self.scope, json_body=body)
        written, _id = self._written(response, method, roles)
        return written if written is not None else self.get(remote_id)

    def _written(
        self, response: httpx.Response, verb: str, roles: tuple[bool, bool] | None
    ) -> tuple[CanonicalContact | None, str | None]:
        """The contact a write answered with, or (None, its id or None) when it has to be read back."""
        raw = body_or_none(response, "maesn")
        problem = wire.error_of(raw)
        if problem is not None:
            # A 2xx that carries an error and no record is a refusal, worded by the server.
            raise Permanent(f"maesn: {verb} was refused: {problem}", status=response.status_code, details=raw)
        answer = wire.data(raw)
        if isinstance(answer, dict) and wire.task_id(answer) and not wire.record_id(answer):
            answer = self._await_task(wire.task_id(answer) or "", verb)
        remote_id = wire.record_id(answer) if isinstance(answer, dict) else None
        if remote_id is None:
            remote_id = wire.location_id(response)
        if not isinstance(answer, dict) or not answer:
            return None, remote_id
        try:
            return from_maesn(answer, roles), remote_id
        except RecordError as error:
            log.info("maesn %s answer not usable as a contact (%s); reading it back", verb, error.reason)
            return None, remote_id

    def _await_task(self, task_id: str, verb: str) -> Any:
        """Poll `/asyncTask/{id}` until it finishes, fails, or `async_wait_seconds` run out (`Transient`)."""
        deadline = time.monotonic() + self.async_wait
        delay = 0.25
        while True:
            task = wire.data(self.http.json("GET", f"/asyncTask/{task_id}", params=self.scope))
            if not isinstance(task, dict):
                raise Transient(f"maesn: async task {task_id} answered with a {type(task).__name__}")
            state = records.enum(task.get("status") or task.get("state") or task.get("taskStatus"))
            if state in wire.TASK_DONE:
                for key in ("result", "data", "response", "entity", "resource", "output"):
                    if isinstance(task.get(key), dict):
                        return wire.data(task[key])
                found = records.first_key(task, "resourceId", "entityId", "objectId", "recordId")
                return {"id": task[found]} if found else {}
            if state in wire.TASK_FAILED:
                reason = task.get("error") or task.get("message") or task.get("errors") or state
                raise Permanent(f"maesn: {verb} failed in async task {task_id}: {reason}", details=task)
            if time.monotonic() + delay > deadline:
                raise Transient(
                    f"maesn: {verb} still running as async task {task_id} after {self.async_wait:.0f} s; "
                    "it may complete later"
                )
            self._sleep(delay)
            delay = min(2.0, delay * 2)

    def close(self) -> None:
        self.http.client.close()
