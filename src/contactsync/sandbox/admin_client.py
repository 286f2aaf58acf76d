"""A small client for the sandbox's admin API, so tests, demos and benchmarks drive it the same way."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from contactsync.contact import CanonicalContact


class SandboxAdmin:
    """Create accounts, play the platform's users (`mutate`), and read what the sandbox saw."""

    def __init__(self, url: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url + "/_sandbox", timeout=30.0, transport=transport)

    def create_account(self, token: str | None = None, **spec: Any) -> str:
        """Create (or replace) an account; returns its token (a fresh one unless given)."""
        token = token or f"acct-{uuid.uuid4().hex[:12]}"
        contacts = spec.pop("contacts", None)
        if contacts is not None:
            spec["contacts"] = [c.model_dump(mode="json") if isinstance(c, CanonicalContact) else c for c in contacts]
        self._ok(self._http.post("/accounts", json={"token": token, **spec}))
        return token

    def configure(self, token: str, **settings: Any) -> dict[str, Any]:
        return self._ok(self._http.patch(f"/accounts/{token}", json=settings))  # type: ignore[no-any-return]

    def mutate(self, token: str, op: str, **fields: Any) -> dict[str, Any]:
        if isinstance(fields.get("contact"), CanonicalContact):
            fields["contact"] = fields["contact"].model_dump(mode="json")
        return self._ok(self._http.post(f"/accounts/{token}/mutate", json={"op": op, **fields}))  # type: ignore[no-any-return]

    def address(self, **settings: Any) -> dict[str, Any]:
        """Merge's limit on failed requests from one address: set it (`failures`, `window_s`), or read its counts."""
        if settings:
            return self._ok(self._http.patch("/address", json=settings))  # type: ignore[no-any-return]
        return self._ok(self._http.get("/address"))  # type: ignore[no-any-return]

    def stats(self, token: str) -> dict[str, Any]:
        return self._ok(self._http.get(f"/accounts/{token}/stats"))  # type: ignore[no-any-return]

    def contacts(self, token: str) -> list[dict[str, Any]]:
        return self._ok(self._http.get(f"/accounts/{token}/contacts"))  # type: ignore[no-any-return]

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def _ok(response: httpx.Response) -> Any:
        if response.status_code >= 300:
            raise RuntimeError(
                f"sandbox admin {response.request.method} {response.request.url}: "
                f"{response.status_code} {response.text}"
            )
        return response.json()
