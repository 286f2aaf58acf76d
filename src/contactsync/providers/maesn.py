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
- `search_pages` (int, default 50): how many pages `search` scans per list.
- `default_retry_after` (float seconds, default 60).

Page numbers are not cursors: a row deleted while a walk runs moves later rows one place up and one of them
would never be seen. Each page's `meta.pagination.total` is compared with the first page's; on a change the
list is walked again from page 1 (repeats are harmless, upserts compare content). A deletion and an unrelated
addition inside the same walk leave the total unchanged; the look-back and periodic full walks bound that.
Maesn exposes no deleted flag, so deletions are only learnt from a complete full walk (ids not seen), never
from an incremental one. Maesn has no `Idempotency-Key`; `create` ignores the key and relies on `search`.
`search` has no server-side filter to use, so it scans newest pages first (a create whose answer was lost sits
at the end of the list) up to `search_pages` pages per list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from contactsync.contact import SYNCED_FIELDS, CanonicalContact
from contactsync.providers import records
from contactsync.providers.base import ConnectionConfig, Page, PageToken, QuarantinedRecord, Window
from contactsync.providers.errors import NotFound, Permanent, RecordError, Transient
from contactsync.providers.http import HttpCaller, build_client, decode_json
from contactsync.providers.maesn_mapping import from_maesn, to_maesn

log = logging.getLogger(__name__)

_LIMITS = (5, 10, 20, 50, 100)
_SCAN = "scan-suppliers"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class MaesnProvider:
    dialect = "maesn"

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
        self.scope: dict[str, str] = {}
        if options.get("company_id"):
            self.scope["companyId"] = str(options["company_id"])
        if options.get("environment_name"):
            self.scope["environmentName"] = str(options["environment_name"])
        client = build_client(config, {"X-API-KEY": config.api_key, "X-ACCOUNT-KEY": config.account_token}, transport)
        self.http = HttpCaller(
            client,
            throttle=throttle,
            default_retry_after=float(options.get("default_retry_after", 60.0)),
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
                "page": 1,
                "total": None,
                "rewalks": 0,
                "bound": bound,
                "suppliers": [],
                "both": [],
            }
        token = dict(token)
        phase = token["phases"][token["phase"]]
        resource = "suppliers" if phase == _SCAN else phase
        response = self.http.request(
            "GET", f"/accounting/{resource}", params={**token["params"], "page": token["page"]}
        )
        if token["bound"] is None:
            token["bound"] = _date_header(response)
        data, total, total_pages = _page_body(response)
        if token["total"] is not None and total != token["total"]:
            return Page([], [], next_token=self._rewalk(token, phase), max_modified_at=None)
        token["total"] = total
        contacts, quarantined = self._map(phase, data, token)
        stamps = [c.modified_at for c in contacts if c.modified_at is not None]
        top = max(stamps) if stamps else None
        if top is not None and token["bound"]:
            top = min(top, datetime.fromisoformat(token["bound"].replace("Z", "+00:00")))
        return Page(contacts, quarantined, next_token=self._advance(token, total_pages), max_modified_at=top)

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

    def _advance(self, token: dict[str, Any], total_pages: int) -> PageToken | None:
        if token["page"] < total_pages:
            return {**token, "page": token["page"] + 1}
        if token["phase"] + 1 < len(token["phases"]):
            return {**token, "phase": token["phase"] + 1, "page": 1, "total": None}
        return None

    def _rewalk(self, token: dict[str, Any], phase: str) -> PageToken:
        """Rows moved under the walk: walk this list again, or give up (watermark untouched) if they go on."""
        if token["rewalks"] >= self.max_rewalks:
            raise Transient(f"maesn: /{phase} kept changing during the walk ({token['rewalks']} re-walks)")
        log.info("maesn: total of /%s changed mid-walk; walking it again", phase)
        restarted = {**token, "page": 1, "total": None, "rewalks": token["rewalks"] + 1}
        if phase == _SCAN:
            restarted["suppliers"] = []
        return restarted

    def sync_finished_at(self) -> datetime | None:
        """Maesn reads the platform live and reports no sync runs."""
        return None

    # -- single records -----------------------------------------------------------------------------------

    def get(self, remote_id: str) -> CanonicalContact:
        if not self.split:
            return _one(self.http.json("GET", f"/accounting/contacts/{remote_id}", params=self.scope), None)
        found: dict[str, Any] = {}
        for kind in ("customers", "suppliers"):
            try:
                found[kind] = self.http.json("GET", f"/accounting/{kind}/{remote_id}", params=self.scope)
            except NotFound:
                continue
        if not found:
            raise NotFound(f"maesn: contact {remote_id} is neither a customer nor a supplier")
        body = found.get("customers") or found["suppliers"]
        return _one(body, ("customers" in found, "suppliers" in found))

    def search(self, *, name: str | None = None, email: str | None = None) -> list[CanonicalContact]:
        if name is None and email is None:
            raise ValueError("search needs a name or an email")
        hits: set[str] = set()
        for resource in ("customers", "suppliers") if self.split else ("contacts",):
            hits |= self._scan(resource, name, email)
        return [self.get(remote_id) for remote_id in sorted(hits)]

    def _scan(self, resource: str, name: str | None, email: str | None) -> set[str]:
        params = {"limit": 100, **self.scope}
        page, pages, hits = 1, None, set()
        for _ in range(self.search_pages):
            body = self.http.request("GET", f"/accounting/{resource}", params={**params, "page": page})
            data, _total, total_pages = _page_body(body)
            for record in data:
                try:
                    contact = from_maesn(record, roles=(False, False))
                except RecordError:
                    continue
                if (name is not None and contact.name == name) or (email is not None and email in contact.emails):
                    hits.add(contact.remote_id or "")
            if pages is None:
                pages = list(range(total_pages, 1, -1))
            if not pages:
                return hits
            page = pages.pop(0)
        log.warning("maesn: search stopped after %d pages of /%s", self.search_pages, resource)
        return hits

    def create(self, contact: CanonicalContact, *, idempotency_key: str | None = None) -> CanonicalContact:
        body = to_maesn({k: v for k, v in contact.content().items() if k in SYNCED_FIELDS})
        if self.split:
            kind = "customers" if contact.is_customer else "suppliers"
            answer = self.http.json("POST", f"/accounting/{kind}", params=self.scope, json_body=body)
            return _one(_data(answer), (contact.is_customer, contact.is_supplier))
        return _one(_data(self.http.json("POST", "/accounting/contacts", params=self.scope, json_body=body)), None)

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
        answer = self.http.json(method, f"/accounting/{kind}/{remote_id}", params=self.scope, json_body=body)
        return _one(_data(answer), roles)

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


def _page_body(response: httpx.Response) -> tuple[list[Any], int, int]:
    try:
        body = decode_json(response.content)
        data = body["data"]
        pagination = body["meta"]["pagination"]
        total, pages = int(pagination["total"]), int(pagination["totalPages"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Transient("maesn: a contacts page did not have the {data, meta.pagination} shape") from exc
    if not isinstance(data, list):
        raise Transient("maesn: a contacts page's data was not a list")
    return data, total, pages


def _data(answer: Any) -> Any:
    if isinstance(answer, dict) and "data" in answer:
        return answer["data"]
    return answer


def _one(record: Any, roles: tuple[bool, bool] | None) -> CanonicalContact:
    try:
        return from_maesn(_data(record), roles)
    except RecordError as error:
        raise Permanent(
            f"maesn: a contact broke the contract: {error.reason}", details=records.excerpt(record)
        ) from error
