"""The sandbox's inspection and control API under /_sandbox/: no auth, JSON only, for tests and benchmarks.

`mutate` is how a test plays the accounting platform's own users (and `churn` on an account keeps doing so in the
background, see `sandbox.churn`): each call changes data "on the platform
side" and stamps the provider clock, optionally backdated (`backdate_ms`) to imitate a late commit.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contactsync.contact import CanonicalContact
from contactsync.sandbox.churn import ChurnRegistry
from contactsync.sandbox.payloads import iso
from contactsync.sandbox.state import (
    Account,
    SandboxState,
    StoredContact,
    UnknownContact,
    WriteRejected,
    apply_settings,
)


def _contact_json(stored: StoredContact) -> dict[str, Any]:
    data = stored.contact.model_dump(mode="json")
    data.update(
        remote_id=stored.id,
        modified_at=iso(stored.modified_at),
        remote_updated_at=iso(stored.remote_updated_at),
        deleted=stored.deleted,
    )
    return data


class Admin:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.churn = ChurnRegistry()

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/address", self.address, methods=["PATCH", "GET"]),
            Route("/_sandbox/accounts", self.create_account, methods=["POST"]),
            Route("/_sandbox/accounts/{token}", self.patch_account, methods=["PATCH", "GET"]),
            Route("/_sandbox/accounts/{token}/stats", self.stats, methods=["GET"]),
            Route("/_sandbox/accounts/{token}/contacts", self.contacts, methods=["GET"]),
            Route("/_sandbox/accounts/{token}/mutate", self.mutate, methods=["POST"]),
        ]

    def _account(self, request: Request) -> Account | None:
        return self.state.get(request.path_params["token"])

    async def create_account(self, request: Request) -> Response:
        try:
            spec = await request.json()
            account = self.state.create_account(spec)
            if isinstance(spec, dict) and "churn" in spec:
                self.churn.apply(account, spec["churn"])
        except (ValueError, TypeError, ValidationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"token": account.token, "contacts": account.stats()["contacts"]}, status_code=201)

    async def patch_account(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return JSONResponse({"error": "no such account"}, status_code=404)
        if request.method == "PATCH":
            try:
                spec = await request.json()
                apply_settings(account, spec)
                if isinstance(spec, dict) and "churn" in spec:
                    self.churn.apply(account, spec["churn"])
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(
            {
                "token": account.token,
                "rate_limit_per_minute": account.rate_limit_per_minute,
                "max_concurrent": account.max_concurrent,
                "faults": vars(account.faults),
                "idempotency": account.idempotency,
                "unique_names": account.unique_names,
                "revoked": account.revoked,
                "variant": account.variant,
                "churn_changes": self.churn.changes(account.token),
            }
        )

    async def address(self, request: Request) -> Response:
        """The limit on failed requests from one address (`sandbox.address`): PATCH {"failures": 20,
        "window_s": 10} sets it (null lifts it) and starts its counts again; both answer its counts."""
        if request.method == "PATCH":
            body = await request.json()
            failures = body.get("failures")
            if failures is not None and (not isinstance(failures, int) or failures < 0):
                return JSONResponse({"error": "failures must be a non-negative integer or null"}, status_code=400)
            self.state.address.configure(failures, float(body.get("window_s", 10.0)))
        return JSONResponse(self.state.address.stats())

    async def stats(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return JSONResponse({"error": "no such account"}, status_code=404)
        return JSONResponse(account.stats())

    async def contacts(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return JSONResponse({"error": "no such account"}, status_code=404)
        return JSONResponse([_contact_json(s) for s in account.ordered() if s.broken is None])

    async def mutate(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return JSONResponse({"error": "no such account"}, status_code=404)
        try:
            stored = apply_mutation(account, await request.json())
        except UnknownContact as exc:
            return JSONResponse({"error": f"no contact {exc}"}, status_code=404)
        except (WriteRejected, ValueError, TypeError, KeyError, ValidationError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(_contact_json(stored) if stored.broken is None else {"remote_id": stored.id})


def apply_mutation(account: Account, op: dict[str, Any]) -> StoredContact:
    """Apply one platform-side change: add, edit, delete, archive, unarchive, or add a broken record."""
    kind = op.get("op")
    backdate = float(op.get("backdate_ms", 0))
    if kind == "add":
        return account.mutate_add(CanonicalContact.model_validate(op["contact"]), backdate_ms=backdate)
    if kind == "edit":
        return account.mutate_edit(op["id"], dict(op["changes"]), backdate_ms=backdate)
    if kind == "archive":
        return account.mutate_edit(op["id"], {"status": "archived"}, backdate_ms=backdate)
    if kind == "unarchive":
        return account.mutate_edit(op["id"], {"status": "active"}, backdate_ms=backdate)
    if kind == "delete":
        return account.mutate_delete(op["id"], backdate_ms=backdate)
    if kind == "broken":
        payloads: dict[str, Any] = {k: op[k] for k in ("merge", "maesn", "any") if k in op}
        if not payloads:
            raise ValueError("a broken record needs a 'merge', 'maesn' or 'any' payload")
        return account.add_broken(payloads, backdate_ms=backdate)
    raise ValueError(f"unknown op {kind!r}; expected add, edit, delete, archive, unarchive or broken")
