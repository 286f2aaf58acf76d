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
- `max_rewalks` (int, default 3): how often a walk restarts a list whose total changed mid-walk before giving
  up with `Transient` (the watermark then stays where it was).
- `search_pages` (int, default 50): how many pages `search` scans per list; a longer list makes the look-up
  `LookupIncomplete` (unknown), never "not found".
- `default_retry_after` (float seconds, default 60).
- `first_page` ("auto" | 0 | 1, default "auto"): the number of a list's first page. In "auto" the first request
  of a list names no page, so the server serves its own first page, and its `currentPage` (0 or 1) tells the
  base; a server that does not say is taken to count from 1, as Maesn documents.
- `async_wait_seconds` (float, default 10): how long a write answered with a `taskId` is polled at
  `/asyncTask/{taskId}` before giving up with `Transient` (the ledger then looks before sending it again).

Page numbers are not cursors: a row deleted while a walk runs moves later rows one place up and one of them
would never be seen. Each page's `meta.pagination.total` is compared with the first page's; on a change the
list is walked again from page 1 (repeats are harmless, upserts compare content). A deletion and an unrelated
addition inside the same walk leave the total unchanged; the look-back and periodic full walks bound that.
Maesn exposes no deleted flag, so deletions are only learnt from a complete full walk (ids not seen), never
from an incremental one. Maesn has no `Idempotency-Key`; `create` ignores the key and relies on `search`.
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
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from contactsync.contact import SYNCED_FIELDS, CanonicalContact
from contactsync.providers import maesn_wire as wire
from contactsync.providers import records
from contactsync.providers.base import ConnectionConfig, Page, PageToken, QuarantinedRecord, Window
from contactsync.providers.errors import LookupIncomplete, NotFound, Permanent, RecordError, Transient
from contactsync.providers.http import HttpCaller, body_or_none
from contactsync.providers.maesn_mapping import from_maesn, to_maesn

log = logging.getLogger(__name__)

_LIMITS = (5, 10, 20, 50, 100)
_SCAN = "scan-suppliers"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class MaesnProvider:
    dialect = "maesn"
    idempotency = False  # Maesn has no Idempotency-Key: a lost create is found with `search`

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        throttle: Callable[[], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        options = config.options
        self.config = config
        self.split = options.get("resources", "contacts") == "split"
        self.modified_param = str(options.get("modified_param", "lastModified"))
        if self.modified_param not in ("lastModified", "lastModifiedAt"):
            raise ValueError("modified_param must be lastModified or lastModifiedAt")
        self.limit = int(options.get("limit", 100))
        if self.limit not in _LIMITS:
            raise ValueError(f"limit must be one of {_LIMITS}")
        self.update_method = str(options.get("update_method", "PATCH")).upper()
        self.max_rewalks = int(options.get("max_rewalks", 3))
        self.search_pages = int(options.get("search_pages", 50))
        first = options.get("first_page", "auto")
        if first not in ("auto", 0, 1, "0", "1"):
            raise ValueError("first_page must be auto, 0 or 1")
        self.first_page: int | None = None if first == "auto" else int(first)
        self.async_wait = float(options.get("async_wait_seconds", 10.0))
        self._sleep: Callable[[float], None] = time.sleep
        self.scope: dict[str, str] = {}
        if options.get("company_id"):
            self.scope["companyId"] = str(options["company_id"])
        if options.get("environment_name"):
            self.scope["environmentName"] = str(options["environment_name"])
        self.http = HttpCaller.for_connection(
            config,
            {"X-API-KEY": config.api_key, "X-ACCOUNT-KEY": config.account_token},
            throttle=throttle,
            transport=transport,
            label="maesn",
        )

    # -- walking ------------------------------------------------------------------------------------------

    def fetch_page(self, window: Window, token: PageToken | None) -> Page:
        if token is None:
            params: dict[str, Any] = {"limit": self.limit, **self.scope}
            if window.modified_after is not None:
                params[self.modified_param] = _iso(window.modified_after)
            bound = _iso(window.modified_before) if window.modified_before else None
            phases = [_SCAN, "customers", "suppliers"] if self.split else ["contacts"]
            token = {
                "params": params,
                "phases": phases,
                "phase": 0,
                "page": self.first_page,
                "base": self.first_page,
                "total": None,
                "rewalks": 0,
                "seen": None,
                "bound": bound,
                "suppliers": [],
                "both": [],
            }
        token = dict(token)
        phase = token["phases"][token["phase"]]
        resource = "suppliers" if phase == _SCAN else phase
        response, asked = self._list(resource, token["params"], token.get("page"))
        if asked != token.get("page"):
            token["page"] = token["base"] = asked
        if token["bound"] is None:
            token["bound"] = _date_header(response)
        shape = wire.page_body(response)
        if token["total"] is not None and shape.total is not None and shape.total != token["total"]:
            return Page([], [], next_token=self._rewalk(token, phase), max_modified_at=None)
        token["total"] = shape.total
        data = shape.items
        contacts, quarantined = self._map(phase, data, token)
        stamps = [c.modified_at for c in contacts if c.modified_at is not None]
        top = max(stamps) if stamps else None
        if top is not None and token["bound"]:
            top = min(top, datetime.fromisoformat(token["bound"].replace("Z", "+00:00")))
        return Page(contacts, quarantined, next_token=self._advance(token, shape), max_modified_at=top)

    def _map(
        self, phase: str, data: list[Any], token: dict[str, Any]
    ) -> tuple[list[CanonicalContact], list[QuarantinedRecord]]:
        contacts: list[CanonicalContact] = []
        quarantined: list[QuarantinedRecord] = []
        suppliers = set(token["suppliers"])
        for record in data:
            record_id = str(record.get("id")) if isinstance(record, dict) else None
            try:
                if phase == _SCAN:
                    if record_id:
                        token["suppliers"] = [*token["suppliers"], record_id]
                    continue
                if phase == "customers":
                    contact = from_maesn(record, roles=(True, record_id in suppliers))
                    if record_id in suppliers:
                        token["both"] = [*token["both"], record_id]
                elif phase == "suppliers":
                    if record_id in token["both"]:
                        continue
                    contact = from_maesn(record, roles=(False, True))
                else:
                    contact = from_maesn(record)
                contacts.append(contact)
            except RecordError as error:
                quarantined.append(records.quarantined(record, error))
        return contacts, quarantined

    def _list(self, resource: str, params: dict[str, Any], page: int | None) -> tuple[httpx.Response, int | None]:
        """One list page; `page=None` lets the server pick its first page. A server that insists on a page
        number (400/422 without one) is asked again for page 1, the documented first page."""
        path = f"/accounting/{resource}"
        if page is not None:
            return self.http.request("GET", path, params={**params, "page": page}), page
        try:
            return self.http.request("GET", path, params=params), None
        except Permanent as exc:
            if isinstance(exc, NotFound) or exc.status not in (400, 422):
                raise
            log.info("maesn: /%s wants a page number (%s); counting pages from 1", resource, exc.status)
            return self.http.request("GET", path, params={**params, "page": 1}), 1

    def _advance(self, token: dict[str, Any], shape: wire.Shape) -> PageToken | None:
        base = token.get("base")
        if base is None:
            base = shape.current if shape.current in (0, 1) and token.get("page") is None else 1
        served = shape.current if shape.current is not None else (token["page"] if token["page"] is not None else base)
        more = shape.more(served, base, self.limit)
        seen = None
        if more and shape.total_pages is None and shape.total is None:
            # No pagination to go by: a server that ignores `page` would serve this page forever.
            seen = wire.fingerprint(shape.items)
            if seen == token.get("seen"):
                more = False
        if more:
            return {**token, "page": served + 1, "base": base, "seen": seen}
        if token["phase"] + 1 < len(token["phases"]):
            return {**token, "phase": token["phase"] + 1, "page": base, "base": base, "total": None, "seen": None}
        return None

    def _rewalk(self, token: dict[str, Any], phase: str) -> PageToken:
        """Rows moved under the walk: walk this list again, or give up (watermark untouched) if they go on."""
        if token["rewalks"] >= self.max_rewalks:
            raise Transient(f"maesn: /{phase} kept changing during the walk ({token['rewalks']} re-walks)")
        log.info("maesn: total of /%s changed mid-walk; walking it again", phase)
        restarted = {
            **token,
            "page": token.get("base", 1),
            "total": None,
            "seen": None,
            "rewalks": token["rewalks"] + 1,
        }
        if phase == _SCAN:
            restarted["suppliers"] = []
        return restarted

    def sync_finished_at(self) -> datetime | None:
        """Maesn reads the platform live and reports no sync runs."""
        return None

    # -- single records -----------------------------------------------------------------------------------

    def get(self, remote_id: str) -> CanonicalContact:
        if not self.split:
            return wire.one(self.http.json("GET", f"/accounting/contacts/{remote_id}", params=self.scope), None)
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
        body = to_maesn({k: v for k, v in contact.content().items() if k in SYNCED_FIELDS})
        roles: tuple[bool, bool] | None = None
        kind = "contacts"
        if self.split:
            kind = "customers" if contact.is_customer else "suppliers"
            roles = (contact.is_customer, contact.is_supplier)
        response = self.http.request("POST", f"/accounting/{kind}", params=self.scope, json_body=body)
        written, remote_id = self._written(response, "POST", roles)
        if written is not None:
            return written
        if remote_id is None:
            raise Transient(
                f"maesn: POST /accounting/{kind} answered {response.status_code} without a contact id; "
                "the create may have happened",
                status=response.status_code,
            )
        return self.get(remote_id)

    def update(self, remote_id: str, changes: dict[str, Any]) -> CanonicalContact:
        unknown = set(changes) - set(SYNCED_FIELDS)
        if unknown:
            raise ValueError(f"not synced fields: {sorted(unknown)}")
        current = self.get(remote_id) if self.split or self.update_method == "PUT" else None
        if self.update_method == "PUT" and current is not None:
            full = {k: v for k, v in current.content().items() if k in SYNCED_FIELDS} | changes
            method, body = "PUT", to_maesn(full)
        else:
            method, body = "PATCH", to_maesn(changes)
        kind = "contacts"
        roles = None
        if self.split and current is not None:
            kind = "customers" if current.is_customer else "suppliers"
            merged = current.content() | changes
            roles = (bool(merged["is_customer"]), bool(merged["is_supplier"]))
        response = self.http.request(method, f"/accounting/{kind}/{remote_id}", params=self.scope, json_body=body)
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


def _date_header(response: httpx.Response) -> str | None:
    value = response.headers.get("date")
    if not value:
        return None
    try:
        return _iso(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        return None
