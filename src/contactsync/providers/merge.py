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
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from contactsync.contact import CanonicalContact
from contactsync.providers import records
from contactsync.providers.base import ConnectionConfig, KnownRecords, Page, PageToken, WalkNotes, Window
from contactsync.providers.errors import LookupIncomplete, NotFound, Permanent, Transient
from contactsync.providers.http import HttpCaller, Throttle, body_or_none
from contactsync.providers.merge_mapping import to_merge
from contactsync.providers.merge_wire import (
    date_header,
    map_page,
    next_of,
    one_contact,
    page_body,
    set_apart_known,
    written_contact,
)
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

    def fetch_page(
        self,
        window: Window,
        token: PageToken | None,
        known: KnownRecords | None = None,
        notes: WalkNotes | None = None,
    ) -> Page:
        # `notes` is not used: a Merge walk remembers nothing across its pages but its cursor.
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
        restarted = False
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
            restarted = True
            response = self._page(token)
        body = page_body(response)
        bound = token.get("bound")
        if bound is None:
            started = date_header(response)
            bound = _iso(started) if started else None
        fresh, unchanged, unchanged_stamps = set_apart_known(body["results"], known)
        contacts, quarantined = map_page(fresh)
        stamps = [c.modified_at for c in contacts if c.modified_at is not None] + unchanged_stamps
        top = max(stamps) if stamps else None
        if top is not None and bound is not None:
            top = min(top, datetime.fromisoformat(bound.replace("Z", "+00:00")))
        following = next_of(body.get("next"), response.request.url)
        if following is not None and following == {k: token.get(k) for k in following}:
            raise Transient("merge: a contacts page pointed at itself as the next page")
        carried = {"restarts": token["restarts"]} if token.get("restarts") else {}
        next_token = {"params": token["params"], "bound": bound, **following, **carried} if following else None
        return Page(
            contacts=contacts,
            quarantined=quarantined,
            next_token=next_token,
            max_modified_at=top,
            unchanged=unchanged,
            restarted=restarted,
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
        return one_contact(self.http.json("GET", f"/contacts/{remote_id}"), "GET")

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
            body = page_body(response)
            contacts, _bad = map_page(body["results"])
            out.extend(contacts)
            following = next_of(body.get("next"), response.request.url)
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
        model = to_merge(contact.synced(self.read_only))
        response = self.http.request("POST", "/contacts", json_body={"model": model}, headers=headers)
        written, remote_id = written_contact(response, "POST")
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
        written, _id = written_contact(response, "PATCH")
        return written if written is not None else self.get(remote_id)

    def close(self) -> None:
        self.http.client.close()


def _has_email(contact: CanonicalContact, email: str) -> bool:
    return any(records.same_text(own, email) for own in contact.emails)
