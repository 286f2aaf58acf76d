"""Reading Maesn's answers, whatever envelope a server wraps them in: list pages and their pagination, written
records, async-task handles and error bodies. Walking and writing live in `maesn`; this module only turns a
response into plain values (`maesn`'s docstring lists the envelopes tolerated and why).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import httpx

from contactsync.contact import CanonicalContact
from contactsync.providers import records
from contactsync.providers.errors import Permanent, RecordError, Transient
from contactsync.providers.http import page_json
from contactsync.providers.maesn_mapping import from_maesn

_LIST_KEYS = ("items", "content", "records", "results", "contacts", "rows")
_TOTAL_KEYS = ("total", "totalCount", "totalElements", "totalItems", "total_count", "totalRecords")
_PAGES_KEYS = ("totalPages", "pages", "pageCount", "total_pages", "lastPage", "last_page")
_CURRENT_KEYS = ("currentPage", "page", "number", "pageNumber", "current_page")
_SIZE_KEYS = ("perPage", "limit", "pageSize", "size", "per_page", "page_size")
TASK_DONE = frozenset({"COMPLETED", "COMPLETE", "SUCCESS", "SUCCEEDED", "SUCCESSFUL", "DONE", "FINISHED"})
TASK_FAILED = frozenset({"FAILED", "FAILURE", "ERROR", "CANCELLED", "CANCELED", "REJECTED", "ABORTED"})


@dataclass(frozen=True)
class Shape:
    """One list page, whatever envelope it came in: its items and what it said about pagination."""

    items: list[Any]
    total: int | None
    total_pages: int | None
    current: int | None
    per_page: int | None

    def last_page(self, base: int, limit: int) -> int | None:
        pages = self.total_pages
        if pages is None and self.total is not None:
            pages = math.ceil(self.total / (self.per_page or limit))
        return None if pages is None else base + max(1, pages) - 1

    def more(self, served: int, base: int, limit: int) -> bool:
        """Whether a page follows the one just served (numbered `served`; the first is `base`)."""
        if not self.items:
            return False
        last = self.last_page(base, limit)
        if last is not None:
            return served < last
        return len(self.items) >= (self.per_page or limit)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def page_body(response: httpx.Response) -> Shape:
    body = page_json(response, "maesn")
    if isinstance(body, list):
        return Shape(body, None, None, None, None)
    if not isinstance(body, dict):
        raise Transient(f"maesn: a contacts page was a {type(body).__name__}, not a list or an object")
    data = body.get("data")
    holders: list[Any] = []
    items: Any = None
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        key = records.first_key(data, *_LIST_KEYS)
        items = data.get(key) if key else next((data[k] for k in _LIST_KEYS if k in data), None)
        holders = [data, data.get("pagination"), data.get("meta"), data.get("page")]
    elif data is None:
        key = next((k for k in _LIST_KEYS if k in body), None)
        items = body.get(key) if key else None
    if items is None and isinstance(data, dict | type(None)):
        raise Transient(
            f"maesn: a contacts page had no list under data, items, content or records "
            f"(keys: {', '.join(sorted(map(str, body))[:10])})"
        )
    if not isinstance(items, list):
        raise Transient(f"maesn: a contacts page's list was a {type(items).__name__}, not a list")
    meta = body.get("meta")
    holders = [
        meta.get("pagination") if isinstance(meta, dict) else None,
        meta,
        body.get("pagination"),
        *holders,
        body.get("page") if isinstance(body.get("page"), dict) else None,
        body,
    ]

    def find(keys: tuple[str, ...]) -> int | None:
        for holder in holders:
            if isinstance(holder, dict):
                for key in keys:
                    number = _integer(holder.get(key))
                    if number is not None:
                        return number
        return None

    return Shape(items, find(_TOTAL_KEYS), find(_PAGES_KEYS), find(_CURRENT_KEYS), find(_SIZE_KEYS))


def fingerprint(items: list[Any]) -> str:
    """A digest of a whole page; whole records, not ids, so two pages of id-less (broken) records still differ."""
    blob = json.dumps(items, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def error_of(body: Any) -> str | None:
    """The error a 2xx write answer carries instead of a record (`error`/`errors`, no id anywhere), if any."""
    if not isinstance(body, dict):
        return None
    data = body.get("data")
    if record_id(body) or (isinstance(data, dict) and (record_id(data) or task_id(data))) or task_id(body):
        return None
    for key in ("error", "errors"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("detail") or value.get("code")
        if isinstance(value, list) and value:
            value = "; ".join(
                str(v.get("message") or v.get("detail") or v) if isinstance(v, dict) else str(v) for v in value[:3]
            )
        if value:
            return str(value)[:300]
    return None


def record_id(answer: dict[str, Any]) -> str | None:
    value = answer.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def task_id(answer: dict[str, Any]) -> str | None:
    value = answer.get("taskId") or answer.get("task_id")
    return str(value) if isinstance(value, str | int) and value != "" else None


def location_id(response: httpx.Response) -> str | None:
    """The new record's id from a `Location` header (`.../contacts/{id}`), for a 201 with no body."""
    location = response.headers.get("location")
    if not location:
        return None
    last = httpx.URL(location).path.rstrip("/").rsplit("/", 1)[-1]
    return last or None


def data(answer: Any) -> Any:
    if isinstance(answer, dict) and "data" in answer:
        return answer["data"]
    return answer


def one(record: Any, roles: tuple[bool, bool] | None) -> CanonicalContact:
    try:
        return from_maesn(data(record), roles)
    except RecordError as error:
        raise Permanent(
            f"maesn: a contact broke the contract: {error.reason}", details=records.excerpt(record)
        ) from error
