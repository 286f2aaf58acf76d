"""Merge Link, as the sandbox serves it: link tokens, the user finishing Link, and the account-token exchange.

    POST /api/integrations/create-link-token          (Bearer API key) -> {link_token, integration_name, magic_link_url}
    POST /_sandbox/link/{link_token}/complete          plays the end user finishing Link in the browser: creates
                                                       the linked account (body = an account spec, as the admin
                                                       API's) and answers {public_token}
    GET  /api/integrations/account-token/{public_token} (Bearer API key) -> {account_token, integration, id}
                                                       (`integration.slug`: the account spec's `platform`,
                                                       "sandbox" unless it names one, e.g. "xero")

As with Merge, a public token is exchanged once, a link token names the end user's origin id (which every webhook
of the linked account then carries), and a missing or wrong API key is a 401.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from contactsync.sandbox.state import Account, SandboxState


def integration_of(account: Account) -> tuple[str, str]:
    """The platform behind the linked account as Merge names it: (name, slug), from the account's `platform`."""
    slug = str(account.platform or "sandbox")
    return slug.replace("-", " ").title(), slug


def linked_account_id(token: str) -> str:
    """The linked account's id, the same one the sandbox's webhooks name (see `sandbox.webhooks`)."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, token))


class MergeLink:
    # The Merge API key the sandbox accepts for Link calls; None accepts any non-empty key.
    api_key: str | None = None

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._links: dict[str, dict[str, Any]] = {}
        self._public: dict[str, str] = {}

    def routes(self) -> list[Route]:
        return [
            Route("/api/integrations/create-link-token", self.create_link_token, methods=["POST"]),
            Route("/api/integrations/account-token/{public_token}", self.account_token, methods=["GET"]),
            Route("/_sandbox/link/{link_token}/complete", self.complete, methods=["POST"]),
        ]

    def _authorised(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        return bool(key) and (self.api_key is None or key == self.api_key)

    async def create_link_token(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"detail": "Invalid API key."}, status_code=401)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) and body.get(k)
            for k in ("end_user_origin_id", "end_user_organization_name", "end_user_email_address")
        ):
            return JSONResponse({"errors": [{"title": "Missing Required Field"}]}, status_code=400)
        link_token = secrets.token_urlsafe(24)
        with self._lock:
            self._links[link_token] = {"origin": body["end_user_origin_id"], "done": False}
        return JSONResponse(
            {
                "link_token": link_token,
                "integration_name": None,
                "magic_link_url": f"{request.base_url}_sandbox/link/{link_token}",
            }
        )

    async def complete(self, request: Request) -> Response:
        link_token = request.path_params["link_token"]
        try:
            spec = await request.json()
        except ValueError:
            spec = {}
        with self._lock:
            link = self._links.get(link_token)
            if link is None or link["done"]:
                return JSONResponse({"error": "unknown or used link token"}, status_code=404)
            link["done"] = True
        token = f"acct-{secrets.token_hex(8)}"
        account = self.state.create_account({**(spec if isinstance(spec, dict) else {}), "token": token})
        account.origin_id = str(link["origin"])
        public_token = secrets.token_urlsafe(24)
        with self._lock:
            self._public[public_token] = token
        return JSONResponse({"public_token": public_token, "account_token": token, "origin": link["origin"]})

    async def account_token(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"detail": "Invalid API key."}, status_code=401)
        with self._lock:
            token = self._public.pop(request.path_params["public_token"], None)
        account = self.state.get(token) if token is not None else None
        if token is None or account is None:
            return JSONResponse({"detail": "Not found."}, status_code=404)
        name, slug = integration_of(account)
        return JSONResponse(
            {
                "account_token": token,
                "integration": {"name": name, "slug": slug, "categories": ["accounting"]},
                "id": linked_account_id(token),
            }
        )
