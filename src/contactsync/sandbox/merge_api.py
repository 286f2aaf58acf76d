"""The Merge Accounting API contacts dialect, as the sandbox serves it.

Faithful where clients can tell: bearer key plus `X-Account-Token`, cursor pages of at most 100, the
`modified_after`/`modified_before` filters on Merge's own `modified_at` (both exclusive),
`include_deleted_data`, `remote_was_deleted`, writes wrapped in `{"model": ...}` answered with
`{"model", "warnings", "errors"}`, and the `Idempotency-Key` replay when the account enables it. An account's
`variant` reshapes answers the way other servers legitimately do (see `sandbox.variants`); the contact's
wire form, rendered and read back, is `sandbox.merge_schema`.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contactsync.contact import CanonicalContact
from contactsync.sandbox.gate import gated
from contactsync.sandbox.merge_link import integration_of, linked_account_id
from contactsync.sandbox.merge_schema import parse_model, render
from contactsync.sandbox.payloads import flag, iso, parse_time, raw_json
from contactsync.sandbox.state import Account, SandboxState, StoredContact, UnknownContact, WriteRejected
from contactsync.sandbox.variants import as_answered

PREFIX = "/api/accounting/v1"


def _error(status: int, message: str) -> Response:
    return JSONResponse({"detail": message}, status_code=status)


def _write_error(exc: WriteRejected) -> Response:
    problem = exc.title.upper().replace(" ", "_")
    return JSONResponse(
        {
            "model": None,
            "warnings": [],
            "errors": [{"title": exc.title, "detail": exc.detail, "problem_type": problem}],
        },
        status_code=400,
    )


def _encode_cursor(seq: int, issued: float | None = None) -> str:
    text = f"s={seq}" if issued is None else f"s={seq};t={issued:.3f}"
    return base64.urlsafe_b64encode(text.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, float | None]:
    """The cursor's position, and when it was issued where it says (a cursor of the `merge_cursor_ttl` variant)."""
    seq, _, issued = base64.urlsafe_b64decode(cursor.encode()).decode().partition(";t=")
    return int(seq.removeprefix("s=")), float(issued) if issued else None


class MergeDialect:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route(f"{PREFIX}/contacts", self.contacts, methods=["GET", "POST"]),
            Route(f"{PREFIX}/contacts/meta/post", self.meta_post, methods=["GET"]),
            Route(f"{PREFIX}/contacts/{{id}}", self.contact, methods=["GET", "PATCH"]),
            Route(f"{PREFIX}/sync-status", self.sync_status, methods=["GET"]),
            Route(f"{PREFIX}/account-details", self.account_details, methods=["GET"]),
        ]

    async def _gate(self, request: Request, route: str, handler: Any, is_write: bool = False) -> Response:
        def key_ok(account: Account) -> bool:
            auth = request.headers.get("authorization", "")
            key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
            return bool(key) and (account.api_key is None or key == account.api_key)

        # Merge's limit on failed requests from one address comes before anything else, and counts every answer.
        address = self.state.address
        if address.refuses():
            return _error(429, "Too many failed requests from this address; back off.")
        response = await gated(
            request,
            self.state,
            f"{request.method} {PREFIX}{route}",
            token=request.headers.get("x-account-token"),
            key_ok=key_ok,
            error=_error,
            handler=handler,
            is_write=is_write,
        )
        address.answered(response.status_code)
        return response

    async def contacts(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._gate(request, "/contacts", self._create, is_write=True)
        return await self._gate(request, "/contacts", self._list)

    async def contact(self, request: Request) -> Response:
        if request.method == "PATCH":
            return await self._gate(request, "/contacts/{id}", self._update, is_write=True)
        return await self._gate(request, "/contacts/{id}", self._get)

    async def sync_status(self, request: Request) -> Response:
        return await self._gate(request, "/sync-status", self._sync_status)

    async def meta_post(self, request: Request) -> Response:
        return await self._gate(request, "/contacts/meta/post", self._meta_post)

    async def account_details(self, request: Request) -> Response:
        return await self._gate(request, "/account-details", self._account_details)

    async def _account_details(self, request: Request, account: Account) -> Response:
        name, slug = integration_of(account)
        return JSONResponse(
            {
                "id": linked_account_id(account.token),
                "integration": name,
                "integration_slug": slug,
                "category": "accounting",
                "end_user_origin_id": account.origin_id,
                "status": "COMPLETE",
            }
        )

    async def _list(self, request: Request, account: Account) -> Response:
        q = request.query_params
        try:
            after = parse_time(q.get("modified_after"))
            before = parse_time(q.get("modified_before"))
            start, issued = _decode_cursor(q["cursor"]) if q.get("cursor") else (0, None)
            page_size = min(100, max(1, int(q.get("page_size", "100"))))
        except ValueError as exc:
            return _error(400, f"Invalid query parameter: {exc}")
        if account.faults.ignore_time_filters:
            after = before = None
        ttl = account.variant.get("merge_cursor_ttl")
        if ttl is not None and issued is not None and time.time() - issued > ttl:
            account.injected["expired cursor"] += 1
            return _error(400, "Invalid cursor: it has expired. Restart from the first page.")
        include_deleted = flag(q.get("include_deleted_data")) or False
        if account.faults.refuse_filters and (q.get("name") or q.get("email_address")):
            return _error(400, "Invalid query parameter: this platform does not support filtering contacts by name.")
        ignored = account.faults.ignore_filters
        wanted = {
            "name": None if ignored else q.get("name"),
            "email": None if ignored else q.get("email_address"),
            "is_customer": flag(q.get("is_customer")),
            "is_supplier": flag(q.get("is_supplier")),
            "status": q.get("status"),
        }
        variant = account.variant
        page_size = min(page_size, variant.get("merge_page_cap", page_size))
        rows: list[StoredContact] = []
        more = False
        for stored in account.listed_after(start):
            if not _matches(stored, after, before, include_deleted, wanted):
                continue
            if len(rows) == page_size:
                more = True
                break
            rows.append(stored)
        if variant.get("merge_lazy_next"):
            more = len(rows) == page_size
        issued_now = time.time() if "merge_cursor_ttl" in variant else None
        cursor = _encode_cursor(rows[-1].seq, issued_now) if more else None
        if cursor is not None and variant.get("merge_next") == "url":
            cursor = str(request.url.include_query_params(cursor=cursor))
        payload: dict[str, Any] = {
            "next": cursor,
            "previous": _encode_cursor(start, issued_now) if start else None,
            "results": [render(s, variant) for s in rows],
        }
        if not rows and variant.get("merge_empty_results", "list") != "list":
            if variant["merge_empty_results"] == "omit":
                del payload["results"]
            else:
                payload["results"] = None
        return raw_json(payload)

    async def _get(self, request: Request, account: Account) -> Response:
        try:
            return JSONResponse(render(account.get(request.path_params["id"]), account.variant))
        except UnknownContact:
            return _error(404, "Not found.")

    async def _create(self, request: Request, account: Account) -> Response:
        body = await request.body()
        key = request.headers.get("idempotency-key") if account.idempotency else None
        try:
            if key:
                replay = account.idempotent_replay(key, body)
                if replay is not None:
                    return JSONResponse(replay[1], status_code=replay[0])
            model = _model_of(body)
            changes = parse_model(model)
            if not changes.get("name"):
                raise WriteRejected("Missing Required Field", "name is required to create a contact")
            contact = CanonicalContact.model_validate(changes)
            stored = account.mutate_add(contact, via_api=True)
        except WriteRejected as exc:
            return _write_error(exc)
        except ValidationError as exc:
            return _write_error(WriteRejected("Invalid contact", str(exc)))
        payload = {
            "model": render(as_answered(stored, changes, account.variant), account.variant),
            "warnings": [],
            "errors": [],
        }
        status = int(account.variant.get("merge_create_status", 201))
        if key:
            account.remember_idempotent(key, body, status, payload)
        return JSONResponse(payload, status_code=status)

    async def _update(self, request: Request, account: Account) -> Response:
        try:
            changes = parse_model(_model_of(await request.body()))
            stored = account.mutate_edit(request.path_params["id"], changes, via_api=True)
        except UnknownContact:
            return _error(404, "Not found.")
        except WriteRejected as exc:
            return _write_error(exc)
        if account.variant.get("merge_patch") == "no_content":
            return Response(status_code=204)
        answer = render(as_answered(stored, changes, account.variant), account.variant)
        return JSONResponse({"model": answer, "warnings": [], "errors": []})

    async def _sync_status(self, request: Request, account: Account) -> Response:
        now = account.now()
        result = {
            "model_name": "Contact",
            "model_id": "accounting.Contact",
            "last_sync_start": iso(now),
            "next_sync_start": None,
            "last_sync_result": "DONE",
            "last_sync_finished": iso(now),
            "status": "DONE",
            "is_initial_sync": False,
        }
        return JSONResponse({"next": None, "previous": None, "results": [result]})

    async def _meta_post(self, request: Request, account: Account) -> Response:
        schema = {
            "type": "object",
            "properties": {
                "model": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        k: {}
                        for k in (
                            "name",
                            "is_supplier",
                            "is_customer",
                            "email_address",
                            "tax_number",
                            "status",
                            "currency",
                            "addresses",
                            "phone_numbers",
                        )
                    },
                }
            },
        }
        return JSONResponse(
            {
                "request_schema": schema,
                "status": None,
                "has_conditional_params": False,
                "has_required_linked_account_params": False,
            }
        )


def _model_of(body: bytes) -> Any:
    try:
        data = json.loads(body or b"{}")
    except ValueError as exc:
        raise WriteRejected("Invalid JSON", str(exc)) from exc
    if not isinstance(data, dict) or "model" not in data:
        raise WriteRejected("Invalid request", 'the body must be {"model": {...}}')
    return data["model"]


def _matches(stored: StoredContact, after: Any, before: Any, include_deleted: bool, wanted: dict[str, Any]) -> bool:
    if after is not None and not stored.modified_at > after:
        return False
    if before is not None and not stored.modified_at < before:
        return False
    if stored.broken is not None:
        served = "merge" in stored.broken or "any" in stored.broken
        return served and all(value is None for value in wanted.values())
    if stored.deleted and not include_deleted:
        return False
    c = stored.contact
    if wanted["name"] is not None and c.name != wanted["name"]:
        return False
    if wanted["email"] is not None and (c.emails[:1] != (wanted["email"],)):
        return False
    if wanted["is_customer"] is not None and c.is_customer != wanted["is_customer"]:
        return False
    if wanted["is_supplier"] is not None and c.is_supplier != wanted["is_supplier"]:
        return False
    return wanted["status"] is None or c.status.upper() == wanted["status"]
