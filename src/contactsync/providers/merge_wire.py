"""Reading Merge's answers: list pages and where the next one is, the records a page holds (and those the
mirror holds as they are), and write answers. Walking and writing live in `merge`, whose docstring lists the
shapes tolerated and why; this module only turns a response into plain values.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from contactsync.contact import CanonicalContact
from contactsync.providers import records
from contactsync.providers.base import KnownRecords, RefusedRecord
from contactsync.providers.errors import Permanent, RecordError, Transient
from contactsync.providers.http import body_or_none, page_json
from contactsync.providers.merge_mapping import from_merge

log = logging.getLogger(__name__)


def date_header(response: httpx.Response) -> datetime | None:
    value = response.headers.get("date")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError, IndexError):
        return None


def page_body(response: httpx.Response) -> dict[str, Any]:
    """A page as `{next, results}`; a missing or null `results` is an empty page, any other shape is Transient."""
    body = page_json(response, "merge")
    if not isinstance(body, dict):
        raise Transient(f"merge: a contacts page was a {type(body).__name__}, not a {{next, results}} object")
    results = body.get("results")
    if results is None:
        results = []
    if not isinstance(results, list):
        raise Transient(f"merge: a contacts page's results was a {type(results).__name__}, not a list")
    return {**body, "results": results}


def next_of(value: Any, current: httpx.URL) -> dict[str, str] | None:
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


def set_apart_known(results: list[Any], known: KnownRecords | None) -> tuple[list[Any], list[str], list[datetime]]:
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


def map_page(results: Any) -> tuple[list[CanonicalContact], list[RefusedRecord]]:
    contacts: list[CanonicalContact] = []
    quarantined: list[RefusedRecord] = []
    for record in results or []:
        try:
            contacts.append(from_merge(record))
        except RecordError as error:
            quarantined.append(records.quarantined(record, error))
    return contacts, quarantined


def one_contact(record: Any, verb: str) -> CanonicalContact:
    try:
        return from_merge(record)
    except RecordError as error:
        raise Permanent(
            f"merge: {verb} returned a contact that breaks the contract: {error.reason}",
            details=records.excerpt(record),
        ) from error


def error_text(errors: Any) -> str:
    """Merge's `errors` (`[{title, detail, problem_type}]`, or plain strings) as one readable line."""
    parts = []
    for error in errors if isinstance(errors, list) else [errors]:
        if isinstance(error, dict):
            words = [str(error[k]) for k in ("title", "detail") if error.get(k)]
            parts.append(": ".join(words) or records.excerpt(error))
        else:
            parts.append(str(error))
    return "; ".join(parts)[:500]


def written_contact(response: httpx.Response, verb: str) -> tuple[CanonicalContact | None, str | None]:
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
            f"merge: {verb} was refused: {error_text(body['errors'])}", status=response.status_code, details=body
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
