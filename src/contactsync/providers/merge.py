"""The Merge Accounting API dialect.

Options (`ConnectionConfig.options`):
- `page_size` (int, 1-100, default 100): contacts per page.
- `idempotency` (bool, default False): send `Idempotency-Key` on creates. Merge offers it per customer (beta);
  without it a create whose answer was lost must be found with `search` before trying again.
- `default_retry_after` (float seconds, default 60): the wait for a 429 that names none; Merge documents no
  Retry-After and limits per minute.

A walk's token carries every query parameter, so a walk resumed from a persisted token asks exactly what it
asked before. A cursor the server refuses (a 4xx) starts the walk again from its first page, keeping its
parameters and its upper bound (`_WALK_RESTARTS`).

`Page.max_modified_at` is clamped to the walk's upper bound on Merge's clock (`modified_before`, or else the
`Date` of the first page's answer): a contact changed while the walk runs may sit behind the cursor already, and
clamping keeps the watermark from jumping past it.

Tolerated beyond the documented shapes: `next` as a bare cursor or as a full URL (its `cursor` is taken, or
the URL itself is followed when it carries none, on our host only); `results` missing or null on an empty page;
a server that serves fewer rows than `page_size` (the cursor decides, never the count). Writes: 200 or 201;
`errors` on a 2xx is a refusal (`Permanent` with the server's messages) even beside a model; a create answered
without a readable model id is `Transient`, so the ledger looks for the contact before sending it again; a
PATCH answered 204, or with a model that cannot be read, is followed by a `get`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from contactsync.contact import SYNCED_FIELDS, CanonicalContact
from contactsync.providers import records
from contactsync.providers.base import ConnectionConfig, KnownRecords, Page, PageToken, RefusedRecord, Window
from contactsync.providers.errors import LookupIncomplete, NotFound, Permanent, RecordError, Transient
from contactsync.providers.http import HttpCaller, Throttle, body_excerpt, body_or_none, decode_json
from contactsync.providers.merge_mapping import from_merge, to_merge
from contactsync.providers.options import MergeOptions

log = logging.getLogger(__name__)

# `search` reads every page of its answer (a server that ignores the filter answers with the whole book); past
# this many pages it gives up with `LookupIncomplete`, never with "not found".
_SEARCH_MAX_PAGES = 2000
# A page whose cursor the server refuses (cursors that expire, or that point into a cached result a restart of
# the server dropped) makes the walk start again from its first page, at most this many times per walk: a walk
# resumed after a crash, or after a retry's wait, must not fail its run for that. Pages read twice are harmless
# (the mirror holds them as they are); a server that refuses every cursor still ends the run, with the reason.
_WALK_RESTARTS = 5


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
        throttle: Throttle | None = None,
        transport: httpx.BaseTransport | None = None,
        on_request: Callable[[httpx.Request], None] | None = None,
    ) -> None:
        self.config = config
        options = MergeOptions.loaded(config.options)
        self.page_size = options.page_size or 100
        self.idempotency = bool(options.idempotency)
        # Fields the platform keeps for itself are left out of creates too (updates never plan them): a platform
        # that refuses a write of a field it computes would refuse the whole create.
        self.read_only = frozenset(options.read_only_fields or ())
        self.http = HttpCaller.for_connection(
            config,
            {"Authorization": f"Bearer {config.api_key}", "X-Account-Token": config.account_token},
            throttle=throttle,
            transport=transport,
            label="merge",
            on_request=on_request,
        )

    # -- walking ------------------------------------------------------------------------------------------

    def fetch_page(self, window: Window, token: PageToken | None, known: KnownRecords | None = None) -> Page:
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
        try:
            response = self._page(token)
        except Permanent as exc:
            if not (token.get("cursor") or token.get("next_url")):
                raise
            restarts = int(token.get("restarts", 0)) + 1
            if restarts > _WALK_RESTARTS:
                raise Permanent(
                    f"{exc} (the walk was started again from its first page {_WALK_RESTARTS} times, and each time "
                    "a later page's cursor was refused)",
                    status=exc.status,
                    details=exc.details,
                ) from exc
            log.warning("merge: a page's cursor was refused (%s); walking again from the first page", exc)
            token = {"params": token["params"], "cursor": None, "bound": token.get("bound"), "restarts": restarts}
            response = self._page(token)
        body = _page_body(response)
        bound = token.get("bound")
        if bound is None:
            started = _date_header(response)
            bound = _iso(started) if started else None
        fresh, unchanged, unchanged_stamps = _set_apart_known(body["results"], known)
        contacts, quarantined = _map_page(fresh)
        stamps = [c.modified_at for c in contacts if c.modified_at is not None] + unchanged_stamps
        top = max(stamps) if stamps else None
        if top is not None and bound is not None:
            top = min(top, datetime.fromisoformat(bound.replace("Z", "+00:00")))
        following = _next_of(body.get("next"), response.request.url)
        if following is not None and following == {k: token.get(k) for k in following}:
            raise Transient("merge: a contacts page pointed at itself as the next page")
        carried = {"restarts": token["restarts"]} if token.get("restarts") else {}
        next_token = {"params": token["params"], "bound": bound, **following, **carried} if following else None
        return Page(
            contacts=contacts, quarantined=quarantined, next_token=next_token, max_modified_at=top, unchanged=unchanged
        )

    def _page(self, token: PageToken) -> httpx.Response:
        if token.get("next_url"):
            return self.http.request("GET", self._own_url(token["next_url"]))
        query = dict(token["params"])
        if token.get("cursor"):
            query["cursor"] = token["cursor"]
        return self.http.request("GET", "/contacts", params=query)

    def _own_url(self, url: str) -> str:
        """A `next` URL, refused unless it keeps our scheme, host and port: the request carries the connection's
        credentials, which must not go in clear text or to another service on the same host."""
        target = httpx.URL(url)
        base = self.http.client.base_url
        if target.host and (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            where = f"{target.scheme}://{target.netloc.decode('ascii', errors='replace')}"
            raise Transient(f"merge: the next page is on another host, port or scheme ({where}); not following it")
        return url

    def sync_finished_at(self) -> datetime | None:
        """Merge's `last_sync_finished` for contacts; None when the server has no `/sync-status` or says nothing.

        A server without the endpoint (404/405) is not an error: the window then stays open at the top and the
        page bound from the `Date` header clamps the watermark instead.
        """
        try:
            body = self.http.json("GET", "/sync-status")
        except Permanent as exc:
            if exc.status in (404, 405, 501):
                log.info("merge: no /sync-status on this server (%s)", exc.status)
                return None
            raise
        finished: list[datetime] = []
        results = body.get("results") if isinstance(body, dict) else body
        for result in results if isinstance(results, list) else []:
            if not isinstance(result, dict):
                continue
            model = str(result.get("model_name") or result.get("model_id") or "")
            moment = records.parse_time(result.get("last_sync_finished"))
            if "contact" in model.lower() and moment is not None:
                finished.append(moment)
        return min(finished) if finished else None

    def integration_slug(self) -> str | None:
        """The platform behind the linked account (`/account-details`' `integration_slug`: "xero", ...), or None
        where the server does not say."""
        body = self.http.json("GET", "/account-details")
        slug = body.get("integration_slug") if isinstance(body, dict) else None
        return slug if isinstance(slug, str) and slug else None

    # -- single records -----------------------------------------------------------------------------------

    def get(self, remote_id: str) -> CanonicalContact:
        return _one(self.http.json("GET", f"/contacts/{remote_id}"), "GET")

    def search(self, *, name: str | None = None, email: str | None = None) -> list[CanonicalContact]:
        if name is None and email is None:
            raise ValueError("search needs a name or an email")
        found: dict[str, CanonicalContact] = {}

        def wanted(contact: CanonicalContact) -> bool:
            # Every answer is held to what was asked, on the client: a server may ignore the filter.
            return (name is not None and records.same_text(contact.name, name)) or (
                email is not None and _has_email(contact, email)
            )

        for key, value in (("name", name), ("email_address", email)):
            if value is None:
                continue
            whole_book = False
            for contact in self._search_pages(key, value):
                if contact.remote_id and not contact.deleted and wanted(contact):
                    found[contact.remote_id] = contact
                if not (records.same_text(contact.name, value) if key == "name" else _has_email(contact, value)):
                    whole_book = True
            if whole_book:
                break  # the filter was ignored: every contact has been read and held to both questions
        return list(found.values())

    def _search_pages(self, key: str, value: str) -> list[CanonicalContact]:
        """Every page of one filtered list; `LookupIncomplete` when it cannot be read to its end."""
        params: dict[str, Any] = {key: value, "page_size": 100}
        url: str | None = None
        seen: set[str] = set()
        out: list[CanonicalContact] = []
        for _ in range(_SEARCH_MAX_PAGES):
            if url is not None:
                response = self.http.request("GET", self._own_url(url))
            else:
                response = self.http.request("GET", "/contacts", params=params)
            body = _page_body(response)
            contacts, _bad = _map_page(body["results"])
            out.extend(contacts)
            following = _next_of(body.get("next"), response.request.url)
            if following is None:
                return out
            step = str(following)
            if step in seen:
                raise LookupIncomplete(f"merge: the look-up by {key} went round in a circle of pages")
            seen.add(step)
            if "cursor" in following:
                params = {**params, "cursor": following["cursor"]}
            else:
                url = following["next_url"]
        raise LookupIncomplete(f"merge: the look-up by {key} did not end within {_SEARCH_MAX_PAGES} pages")

    def create(self, contact: CanonicalContact, *, idempotency_key: str | None = None) -> CanonicalContact:
        headers = {"Idempotency-Key": idempotency_key} if self.idempotency and idempotency_key else None
        model = to_merge({k: v for k, v in contact.content().items() if k in SYNCED_FIELDS and k not in self.read_only})
        response = self.http.request("POST", "/contacts", json_body={"model": model}, headers=headers)
        written, remote_id = _written(response, "POST")
        if written is not None:
            return written
        if remote_id is None:
            # Committed or not, we cannot tell which contact it is: `Transient` makes the ledger search first.
            raise Transient(
                f"merge: POST /contacts answered {response.status_code} without a contact id; "
                "the create may have happened",
                status=response.status_code,
                details=records.excerpt(body_or_none(response, "merge")),
            )
        try:
            return self.get(remote_id)
        except NotFound:
            # Created, but not readable yet (a unified API that stores it on its next sync): not a refusal.
            raise Transient(
                f"merge: contact {remote_id} was created but cannot be read yet", status=response.status_code
            ) from None

    def update(self, remote_id: str, changes: dict[str, Any]) -> CanonicalContact:
        response = self.http.request("PATCH", f"/contacts/{remote_id}", json_body={"model": to_merge(changes)})
        written, _id = _written(response, "PATCH")
        return written if written is not None else self.get(remote_id)

    def close(self) -> None:
        self.http.client.close()


def _page_body(response: httpx.Response) -> dict[str, Any]:
    """A page as `{next, results}`; a missing or null `results` is an empty page, any other shape is Transient."""
    try:
        body = decode_json(response.content)
    except ValueError as exc:
        raise Transient(
            f"merge: a contacts page was not JSON: {body_excerpt(response.content)!r}", status=response.status_code
        ) from exc
    if not isinstance(body, dict):
        raise Transient(f"merge: a contacts page was a {type(body).__name__}, not a {{next, results}} object")
    results = body.get("results")
    if results is None:
        results = []
    if not isinstance(results, list):
        raise Transient(f"merge: a contacts page's results was a {type(results).__name__}, not a list")
    return {**body, "results": results}


def _next_of(value: Any, current: httpx.URL) -> dict[str, str] | None:
    """Where the next page is: `{"cursor": ...}` for a cursor (bare or inside a URL), `{"next_url": ...}` else.

    A relative URL is resolved against the page that named it (the client's base URL has a path of its own).
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Transient(f"merge: a contacts page's next was a {type(value).__name__}, not a cursor")
    if not value.startswith(("http://", "https://", "/")):
        return {"cursor": value}
    url = current.join(value)
    cursor = url.params.get("cursor")
    return {"cursor": cursor} if cursor else {"next_url": str(url)}


def _has_email(contact: CanonicalContact, email: str) -> bool:
    return any(records.same_text(own, email) for own in contact.emails)


def _set_apart_known(results: list[Any], known: KnownRecords | None) -> tuple[list[Any], list[str], list[datetime]]:
    """The page's records to map, and the remote ids (with their `modified_at`) of those the mirror holds as they
    are. A Merge contact maps from itself alone, so a record with the digest of the one its row was mapped from
    maps to what the row holds. An id the page lists twice is mapped both times, as before (the first wins)."""
    if known is None or not results:
        return results, [], []
    ids = [record.get("id") if isinstance(record, dict) else None for record in results]
    once = {i for i, n in Counter(ids).items() if isinstance(i, str) and i and n == 1}
    digests: dict[str, str] = {}
    for remote_id, record in zip(ids, results, strict=True):
        if remote_id in once and (digest := records.raw_digest(record)) is not None:
            digests[remote_id] = digest
    held = known(digests) & digests.keys() if digests else set()
    if not held:
        return results, [], []
    fresh: list[Any] = []
    unchanged: list[str] = []
    stamps: list[datetime] = []
    for remote_id, record in zip(ids, results, strict=True):
        if remote_id not in held:
            fresh.append(record)
            continue
        try:  # mapped before from this very record, so it parses; one that does not is mapped (and refused)
            stamp = records.timestamp(record, "modified_at", remote_id, required=True)
        except RecordError:
            fresh.append(record)
            continue
        unchanged.append(remote_id)
        if stamp is not None:
            stamps.append(stamp)
    return fresh, unchanged, stamps


def _map_page(results: Any) -> tuple[list[CanonicalContact], list[RefusedRecord]]:
    contacts: list[CanonicalContact] = []
    quarantined: list[RefusedRecord] = []
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


def _error_text(errors: Any) -> str:
    """Merge's `errors` (`[{title, detail, problem_type}]`, or plain strings) as one readable line."""
    parts = []
    for error in errors if isinstance(errors, list) else [errors]:
        if isinstance(error, dict):
            words = [str(error[k]) for k in ("title", "detail") if error.get(k)]
            parts.append(": ".join(words) or records.excerpt(error))
        else:
            parts.append(str(error))
    return "; ".join(parts)[:500]


def _written(response: httpx.Response, verb: str) -> tuple[CanonicalContact | None, str | None]:
    """The contact from a write answer, or (None, id or None) when it must be read back.

    Merge may answer 2xx and still carry `errors`: that is a refusal, whatever else the body holds.
    """
    body = body_or_none(response, "merge")
    if body is None:
        return None, None
    if not isinstance(body, dict):
        raise Transient(
            f"merge: {verb} answered with a {type(body).__name__}, not an object", details=records.excerpt(body)
        )
    if body.get("warnings"):
        log.warning("merge %s warnings: %s", verb, body["warnings"])
    if body.get("errors"):
        raise Permanent(
            f"merge: {verb} was refused: {_error_text(body['errors'])}", status=response.status_code, details=body
        )
    model = body.get("model", body if "id" in body else None)
    if not isinstance(model, dict):
        return None, None
    remote_id = model.get("id") if isinstance(model.get("id"), str) and model.get("id") else None
    try:
        return from_merge(model), remote_id
    except RecordError as error:
        # The write went through; a partial echo (no modified_at, say) is read back rather than trusted.
        log.info("merge %s answer not usable as a contact (%s); reading it back", verb, error.reason)
        return None, remote_id
