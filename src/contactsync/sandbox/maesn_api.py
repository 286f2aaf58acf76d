"""The Maesn accounting contacts dialect, as the sandbox serves it.

`X-API-KEY` plus `X-ACCOUNT-KEY`; `page` (from 1) and `limit` in {5, 10, 20, 50, 100} with `meta.pagination`;
`lastModified` and `lastModifiedAt` both accepted, both inclusive ("at that time or later"); `/contacts`,
`/customers` and `/suppliers` over the same books, and `/v2/contacts`; POST, PUT (whole record) and PATCH
(partial). Rows are served in change-time order, oldest first: an edit moves a row to the end and a deletion
pulls the rows behind it up one place, so a page walk that runs while the books change loses rows, as page APIs
do (variant `maesn_order: created` serves creation order). Emails and addresses carry the documented enum values
(BUSINESS; BILLING, DELIVERY, EMPTY); with `maesn_strict` writes are checked against the documented schema.

Items from `/contacts` carry `isCustomer`/`isSupplier` (as Maesn's v2 does), a status and a currency; items from
`/customers` and `/suppliers` no roles, so a client walking that pair has to work the roles out from which list a
contact is on. Variant `maesn_fields: documented` serves only the fields Maesn's v1 reference lists: no roles,
status or currency on any list.
Maesn has no deleted flag: a deleted contact simply disappears from lists and answers 404. When an account
sets `company_id`, every call must carry a matching `companyId`, as Business Central connections require.
An account's `variant` reshapes lists, records and write answers the way other servers legitimately do (see
`sandbox.variants`), including creates answered with a `taskId` to poll at `/asyncTask/{taskId}`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contactsync.contact import CanonicalContact
from contactsync.providers.countries import spellings
from contactsync.sandbox import maesn_schema
from contactsync.sandbox.gate import gated
from contactsync.sandbox.maesn_pages import envelope
from contactsync.sandbox.payloads import iso, parse_time, raw_json
from contactsync.sandbox.state import Account, SandboxState, StoredContact, UnknownContact, WriteRejected
from contactsync.sandbox.variants import as_answered, own_form, retext, unstate_roles

KINDS = ("contacts", "customers", "suppliers")
LIMITS = (5, 10, 20, 50, 100)
V2 = "v2"  # the kind of the v2 contacts routes
_ADDRESS_OUT = {"billing": "BILLING", "shipping": "DELIVERY", "other": "EMPTY"}
# Documented types, plus the SHIPPING/OTHER older clients send (refused in strict mode by the schema).
_ADDRESS_IN = {
    "BILLING": "billing",
    "DELIVERY": "shipping",
    "SHIPPING": "shipping",
    "EMPTY": "other",
    "OTHER": "other",
    "PRIVATE": "other",
    "WORK": "other",
    "PICKUP": "other",
}


def render(stored: StoredContact, kind: str, variant: dict[str, Any] | None = None) -> Any:
    if stored.broken is not None:
        return stored.broken.get("maesn", stored.broken.get("any"))
    stored = own_form(stored, variant)
    item = unstate_roles(_shaped(stored, kind, variant), variant, ("isCustomer", "isSupplier"), drop=True)
    return retext(item, variant)


def _shaped(stored: StoredContact, kind: str, variant: dict[str, Any] | None) -> Any:
    item = _documented(stored, kind)
    if kind == V2:
        return _v2(stored, item)
    if variant and variant.get("maesn_fields") == "documented":
        # Only what Maesn's v1 reference lists: no roles on /contacts, no status, no currency.
        for key in ("isCustomer", "isSupplier", "status", "currency"):
            item.pop(key, None)
        return item
    if variant and variant.get("maesn_fields") == "v2":
        c = stored.contact
        item["name"] = item.pop("companyName")
        item["updatedAt"] = item.pop("updatedDate")
        item["createdDate"] = iso(stored.created_at)
        item.pop("vatId")
        item["taxNumber"] = c.tax_number
        item["emailAddresses"] = list(c.emails)
        item["phoneNumbers"] = [p.number for p in c.phones]
        for address in item["addresses"]:
            known = spellings(address["countryCode"]) if address["countryCode"] else None
            address["country"] = known[1] if known else address["countryCode"]
            del address["countryCode"]
        item["isCustomer"] = c.is_customer
        item["isSupplier"] = c.is_supplier
    return item


def _documented(stored: StoredContact, kind: str) -> dict[str, Any]:
    c = stored.contact
    item: dict[str, Any] = {
        "id": stored.id,
        "companyName": c.name,
        "contactType": "COMPANY",
        "vatId": c.tax_number,
        "emailAddresses": [{"email": e, "type": "BUSINESS"} for e in c.emails],
        "phoneNumbers": [{"number": p.number, "type": p.type} for p in c.phones],
        "addresses": [
            {
                "addressLine1": a.street_1,
                "addressLine2": a.street_2,
                "city": a.city,
                "countryCode": a.country,
                "postalCode": a.postal_code,
                "type": _ADDRESS_OUT[a.type],
            }
            for a in c.addresses
        ],
        "contactPersons": [],
        "number": stored.platform_id,
        "accountNumber": None,
        "status": c.status.upper(),
        "currency": c.currency,
        "updatedDate": iso(stored.modified_at),
    }
    if kind == "contacts":
        item["isCustomer"] = c.is_customer
        item["isSupplier"] = c.is_supplier
    return item


def _v2(stored: StoredContact, item: dict[str, Any]) -> dict[str, Any]:
    """A v2 contact: roles as flags on every item, `createdDate` and `website`, no `vatId`."""
    item.pop("vatId")
    for address in item["addresses"]:
        if address["type"] == "EMPTY":
            address["type"] = None
    item.update(
        isCustomer=stored.contact.is_customer,
        isSupplier=stored.contact.is_supplier,
        createdDate=iso(stored.created_at),
        website=None,
    )
    return item


def parse_body(body: Any, kind: str, *, whole: bool) -> dict[str, Any]:
    """A Maesn write body as canonical field changes; `whole` (PUT) clears what the body leaves out."""
    if not isinstance(body, dict):
        raise WriteRejected("Invalid request", "the body must be a contact object")
    changes: dict[str, Any] = {}
    simple = {
        "companyName": "name",
        "vatId": "tax_number",
        "currency": "currency",
        "isCustomer": "is_customer",
        "isSupplier": "is_supplier",
    }
    for key, field in simple.items():
        if key in body:
            changes[field] = body[key]
    if "emailAddresses" in body:
        changes["emails"] = [e.get("email") for e in body["emailAddresses"] or []]
    if "phoneNumbers" in body:
        changes["phones"] = [{"number": p.get("number"), "type": p.get("type")} for p in body["phoneNumbers"] or []]
    if "addresses" in body:
        addresses = []
        for a in body["addresses"] or []:
            kind_in = a.get("type") or "BILLING"
            if kind_in not in _ADDRESS_IN:
                raise WriteRejected("Invalid enum value", f"address type {kind_in!r} is not a documented type")
            addresses.append(
                {
                    "type": _ADDRESS_IN[kind_in],
                    "street_1": a.get("addressLine1"),
                    "street_2": a.get("addressLine2"),
                    "city": a.get("city"),
                    "postal_code": a.get("postalCode"),
                    "country": a.get("countryCode"),
                }
            )
        changes["addresses"] = addresses
    if "status" in body:
        if body["status"] not in ("ACTIVE", "ARCHIVED"):
            raise WriteRejected("Invalid enum value", f"status {body['status']!r} is not ACTIVE or ARCHIVED")
        changes["status"] = body["status"].lower()
    if kind == V2 and "vatId" in body:
        raise WriteRejected("Unknown field", "vatId is not a v2 contact field")
    if whole:
        cleared: dict[str, Any] = {
            **({} if kind == V2 else {"tax_number": None}),
            "currency": None,
            "emails": [],
            "phones": [],
            "addresses": [],
            "status": "active",
        }
        changes = cleared | changes
    if kind == "customers":
        changes["is_customer"] = True
    elif kind == "suppliers":
        changes["is_supplier"] = True
    return changes


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": {"code": status, "message": message}}, status_code=status)


def _write_error(exc: WriteRejected) -> Response:
    code = exc.title.upper().replace(" ", "_")
    return JSONResponse({"error": {"code": code, "message": f"{exc.title}: {exc.detail}"}}, status_code=400)


def _served_broken(stored: StoredContact) -> bool:
    return stored.broken is not None and ("maesn" in stored.broken or "any" in stored.broken)


def _in_kind(stored: StoredContact, kind: str) -> bool:
    if kind == "customers":
        return stored.contact.is_customer
    if kind == "suppliers":
        return stored.contact.is_supplier
    return True


class MaesnDialect:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        routes = []
        for kind in KINDS:
            routes.append(Route(f"/accounting/{kind}", self._collection(kind), methods=["GET", "POST"]))
            routes.append(Route(f"/accounting/{kind}/{{id}}", self._member(kind), methods=["GET", "PUT", "PATCH"]))
        routes.append(Route("/accounting/v2/contacts", self._collection(V2), methods=["GET", "POST"]))
        routes.append(Route("/accounting/v2/contacts/{id}", self._member(V2), methods=["GET", "PUT", "PATCH"]))
        routes.append(Route("/asyncTask/{id}", self._async_task, methods=["GET"]))
        return routes

    async def _async_task(self, request: Request) -> Response:
        return await self._gate(request, "/asyncTask/{id}", "contacts", self._task)

    def _collection(self, kind: str) -> Any:
        async def endpoint(request: Request) -> Response:
            if request.method == "POST":
                return await self._gate(request, f"/accounting/{kind}", kind, self._create, write=True)
            return await self._gate(request, f"/accounting/{kind}", kind, self._list)

        return endpoint

    def _member(self, kind: str) -> Any:
        async def endpoint(request: Request) -> Response:
            write = request.method != "GET"
            handler = self._get if not write else self._update
            return await self._gate(request, f"/accounting/{kind}/{{id}}", kind, handler, write=write)

        return endpoint

    async def _gate(self, request: Request, route: str, kind: str, handler: Any, write: bool = False) -> Response:
        def key_ok(account: Account) -> bool:
            key = request.headers.get("x-api-key", "")
            return bool(key) and (account.api_key is None or key == account.api_key)

        async def checked(request: Request, account: Account) -> Response:
            if account.company_id and request.query_params.get("companyId") != account.company_id:
                return _error(400, "companyId is required for this connection and must match it.")
            response: Response = await handler(request, account, kind)
            return response

        return await gated(
            request,
            self.state,
            f"{request.method} {route}",
            token=request.headers.get("x-account-key"),
            key_ok=key_ok,
            error=_error,
            handler=checked,
            is_write=write,
        )

    async def _list(self, request: Request, account: Account, kind: str) -> Response:
        q = request.query_params
        style = account.variant.get("maesn_pagination", "documented")
        base = 0 if style in ("zero_based", "spring") else 1
        try:
            page = int(q.get("page", str(base)))
            limit = int(q.get("limit", "100"))
            since = parse_time(q.get("lastModified") or q.get("lastModifiedAt"))
        except ValueError as exc:
            return _error(400, f"Invalid query parameter: {exc}")
        if limit not in LIMITS or page < base:
            return _error(400, f"limit must be one of {list(LIMITS)} and page at least {base}")
        if account.faults.ignore_time_filters:
            since = None
        # Rows in change-time order, oldest first, as a list ordered by `updatedDate` is: an edit moves a row to the
        # end and the rows after its old place one up. `maesn_order: created` keeps creation order instead.
        ordered = account.listed()  # a contact inside its visibility lag is not listed yet
        if account.variant.get("maesn_order", "updated") == "updated":
            ordered.sort(key=lambda s: (s.modified_at, s.seq))
        rows = [
            s
            for s in ordered
            if (_served_broken(s) or (s.broken is None and not s.deleted and _in_kind(s, kind)))
            and (since is None or s.modified_at >= since)
        ]
        chunk = rows[(page - base) * limit : (page - base + 1) * limit]
        items = [render(s, kind, account.variant) for s in chunk]
        pages = max(1, math.ceil(len(rows) / limit))
        return raw_json(envelope(account.variant, items, len(rows), pages, page, limit))

    async def _get(self, request: Request, account: Account, kind: str) -> Response:
        try:
            stored = account.get(request.path_params["id"])
        except UnknownContact:
            return _error(404, "Contact not found.")
        if stored.deleted or not _in_kind(stored, kind):
            return _error(404, "Contact not found.")
        return JSONResponse({"data": render(stored, kind, account.variant), "meta": {"warnings": []}})

    async def _create(self, request: Request, account: Account, kind: str) -> Response:
        try:
            body = _json(await request.body())
            refused = _strict(account, body, kind, create=True)
            if refused is not None:
                return refused
            changes = parse_body(body, kind, whole=True)
            if not changes.get("name"):
                raise WriteRejected("Missing field", "companyName is required")
            stored = account.mutate_add(CanonicalContact.model_validate(changes), via_api=True)
        except WriteRejected as exc:
            return _write_error(exc)
        except ValidationError as exc:
            return _write_error(WriteRejected("Invalid contact", str(exc)))
        return _created(account, as_answered(stored, changes, account.variant), kind, request)

    async def _update(self, request: Request, account: Account, kind: str) -> Response:
        contact_id = request.path_params["id"]
        try:
            stored = account.get(contact_id)
            if stored.deleted or not _in_kind(stored, kind):
                raise UnknownContact(contact_id)
            body = _json(await request.body())
            refused = _strict(account, body, kind, create=request.method == "PUT")
            if refused is not None:
                return refused
            changes = parse_body(body, kind, whole=request.method == "PUT")
            if request.method == "PUT" and not changes.get("name"):
                raise WriteRejected("Missing field", "companyName is required")
            stored = account.mutate_edit(contact_id, changes, via_api=True)
        except UnknownContact:
            return _error(404, "Contact not found.")
        except WriteRejected as exc:
            return _write_error(exc)
        if account.variant.get("maesn_update") == "no_content":
            return Response(status_code=204)
        answer = render(as_answered(stored, changes, account.variant), kind, account.variant)
        return JSONResponse({"data": answer, "meta": {"warnings": []}})

    async def _task(self, request: Request, account: Account, kind: str) -> Response:
        """An async task from a `task` create: pending on the first poll, completed from the second on."""
        task_id = request.path_params["id"]
        with account.lock:
            task = account.tasks.get(task_id)
            if task is None:
                return _error(404, "Task not found.")
            task[0] += 1
            polls, contact_id = task
        if polls < 2:
            return JSONResponse({"data": {"taskId": task_id, "status": "PENDING"}})
        return JSONResponse({"data": {"taskId": task_id, "status": "COMPLETED", "resourceId": contact_id}})


def _created(account: Account, stored: StoredContact, kind: str, request: Request) -> Response:
    style = account.variant.get("maesn_create", "wrapped")
    record = render(stored, kind, account.variant)
    if style == "bare":
        return JSONResponse(record, status_code=201)
    if style == "id":
        return JSONResponse({"id": stored.id}, status_code=201)
    if style == "location":
        return Response(status_code=201, headers={"Location": str(request.url.replace(query="")) + f"/{stored.id}"})
    if style == "task":
        task_id = f"task-{stored.id}"
        with account.lock:
            account.tasks[task_id] = [0, stored.id]
        return JSONResponse({"taskId": task_id, "status": "PENDING"}, status_code=202)
    return JSONResponse({"data": record, "meta": {"warnings": []}}, status_code=201)


def _strict(account: Account, body: Any, kind: str, *, create: bool) -> Response | None:
    """In strict mode, a 422 naming every field and value the documented schema of the route does not allow."""
    if not account.variant.get("maesn_strict"):
        return None
    found = maesn_schema.problems(body, "v2" if kind == V2 else "v1", create=create)
    if not found:
        return None
    return JSONResponse({"error": {"code": "VALIDATION_ERROR", "message": "; ".join(found)}}, status_code=422)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise WriteRejected("Invalid JSON", str(exc)) from exc
