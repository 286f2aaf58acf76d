"""The Merge Accounting API dialect.

Options (`ConnectionConfig.options`):
- `page_size` (int, 1-100, default 100): contacts per page.
- `idempotency` (bool, default False): send `Idempotency-Key` on creates. Merge offers it per customer (beta);
  without it a create whose answer was lost must be found with `search` before trying again.
- `default_retry_after` (float seconds, default 60): the wait for a 429 that names none; Merge documents no
  Retry-After and limits per minute.

A walk's token carries every query parameter, so a walk resumed from a persisted token asks exactly what it
asked before. `Page.max_modified_at` is clamped to the walk's upper bound on Merge's clock
(`modified_before`, or else the `Date` of the first page's answer): a contact changed while the walk runs may
sit behind the cursor already, and clamping keeps the watermark from jumping past it.
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
from contactsync.providers.errors import Permanent, RecordError
from contactsync.providers.http import HttpCaller, build_client
from contactsync.providers.merge_mapping import from_merge, to_merge

log = logging.getLogger(__name__)

# `search` walks at most this many pages; an exact name or email matching more contacts is a data problem.
_SEARCH_PAGES = 5


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _date_header(response: httpx.Response) -> datetime | None:
    value = response.headers.get("date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError, IndexError):
        return None


class MergeProvider:
    dialect = "merge"

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        throttle: Callable[[], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        options = config.options
        self.page_size = max(1, min(100, int(options.get("page_size", 100))))
        self.idempotency = bool(options.get("idempotency", False))
        client = build_client(
            config,
            {"Authorization": f"Bearer {config.api_key}", "X-Account-Token": config.account_token},
            transport,
        )
        self.http = HttpCaller(
            client,
            throttle=throttle,
            default_retry_after=float(options.get("default_retry_after", 60.0)),
            label="merge",
        )

    # -- walking ------------------------------------------------------------------------------------------

    def fetch_page(self, window: Window, token: PageToken | None) -> Page:
        if token is None:
            params: dict[str, Any] = {
                "page_size": self.page_size,
                "include_deleted_data": "true" if window.include_deleted else "false",
            }
            if window.modified_after is not None:
                params["modified_after"] = _iso(window.modified_after)
            if window.modified_before is not None:
                params["modified_before"] = _iso(window.modified_before)
            token = {"params": params, "cursor": None, "bound": params.get("modified_before")}
        query = dict(token["params"])
        if token.get("cursor"):
            query["cursor"] = token["cursor"]
        response = self.http.request("GET", "/contacts", params=query)
        body = _page_body(response)
        bound = token.get("bound")
        if bound is None:
            started = _date_header(response)
            bound = _iso(started) if started else None
        contacts, quarantined = _map_page(body.get("results"))
        stamps = [c.modified_at for c in contacts if c.modified_at is not None]
        top = max(stamps) if stamps else None
        if top is not None and bound is not None:
            top = min(top, datetime.fromisoformat(bound.replace("Z", "+00:00")))
        cursor = body.get("next")
        next_token = {"params": token["params"], "cursor": cursor, "bound": bound} if cursor else None
        return Page(contacts=contacts, quarantined=quarantined, next_token=next_token, max_modified_at=top)

    def sync_finished_at(self) -> datetime | None:
        body = self.http.json("GET", "/sync-status")
        finished: list[datetime] = []
        for result in body.get("results") or [] if isinstance(body, dict) else []:
            model = str(result.get("model_name") or result.get("model_id") or "")
            value = result.get("last_sync_finished")
            if "contact" in model.lower() and isinstance(value, str):
                try:
                    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    continue
                finished.append(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        return min(finished) if finished else None

    # -- single records -----------------------------------------------------------------------------------

    def get(self, remote_id: str) -> CanonicalContact:
        return _one(self.http.json("GET", f"/contacts/{remote_id}"), "GET")

    def search(self, *, name: str | None = None, email: str | None = None) -> list[CanonicalContact]:
        if name is None and email is None:
            raise ValueError("search needs a name or an email")
        found: dict[str, CanonicalContact] = {}
        for key, value in (("name", name), ("email_address", email)):
            if value is None:
                continue
            params: dict[str, Any] = {key: value, "page_size": 100}
            for _ in range(_SEARCH_PAGES):
                body = _page_body(self.http.request("GET", "/contacts", params=params))
                contacts, _bad = _map_page(body.get("results"))
                for contact in contacts:
                    if contact.remote_id and not contact.deleted:
                        found[contact.remote_id] = contact
                if not body.get("next"):
                    break
                params = {**params, "cursor": body["next"]}
        return list(found.values())

    def create(self, contact: CanonicalContact, *, idempotency_key: str | None = None) -> CanonicalContact:
        headers = {"Idempotency-Key": idempotency_key} if self.idempotency and idempotency_key else None
        model = to_merge({k: v for k, v in contact.content().items() if k in SYNCED_FIELDS})
        body = self.http.json("POST", "/contacts", json_body={"model": model}, headers=headers)
        return _written(body, "POST")

    def update(self, remote_id: str, changes: dict[str, Any]) -> CanonicalContact:
        body = self.http.json("PATCH", f"/contacts/{remote_id}", json_body={"model": to_merge(changes)})
        return _written(body, "PATCH")

    def close(self) -> None:
        self.http.client.close()


def _page_body(response: httpx.Response) -> dict[str, Any]:
    from contactsync.providers.errors import Transient
    from contactsync.providers.http import decode_json

    try:
        body = decode_json(response.content)
    except ValueError as exc:
        raise Transient("merge: a contacts page was not JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("results", []), list):
        raise Transient("merge: a contacts page did not have the {next, results} shape")
    return body


def _map_page(results: Any) -> tuple[list[CanonicalContact], list[QuarantinedRecord]]:
    contacts: list[CanonicalContact] = []
    quarantined: list[QuarantinedRecord] = []
    for record in results or []:
        try:
            contacts.append(from_merge(record))
        except RecordError as error:
            quarantined.append(records.quarantined(record, error))
    return contacts, quarantined


def _one(record: Any, verb: str) -> CanonicalContact:
    try:
        return from_merge(record)
    except RecordError as error:
        raise Permanent(
            f"merge: {verb} returned a contact that breaks the contract: {error.reason}",
            details=records.excerpt(record),
        ) from error


def _written(body: Any, verb: str) -> CanonicalContact:
    """The contact from a write answer; Merge may say 2xx yet carry `errors` and no model."""
    if not isinstance(body, dict):
        raise Permanent(f"merge: {verb} answered with something other than an object", details=records.excerpt(body))
    if body.get("warnings"):
        log.warning("merge %s warnings: %s", verb, body["warnings"])
    if body.get("errors") and not body.get("model"):
        raise Permanent(f"merge: {verb} was refused", details=body["errors"])
    return _one(body.get("model"), verb)
