"""Connect: a tenant's user authorises access to their books through Merge Link (or maesn Connect).

Merge Link runs in the app's frontend. The app asks us for a link token (we ask Merge with the deployment's
Merge API key, naming the tenant as the end user's origin id, so every webhook Merge later sends names it), the
user completes Link, and the app hands us the `public_token` Link returned; we exchange it for the linked
account's token, store that encrypted, and start the first (full) sync. The Merge API key never reaches the
browser, and the account token never leaves the server.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy.orm import Session

from contactsync import db
from contactsync.api.deps import TenantId
from contactsync.api.schemas import ConnectionOptions, ConnectionOut, Secret
from contactsync.models import Connection, Tenant
from contactsync.providers.platforms import platform_defaults
from contactsync.settings import get_settings
from contactsync.store.tenants import save_connection

router = APIRouter(prefix="/v1/tenants/{tenant_id}/connect", tags=["connect"])


class LinkTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    end_user_email_address: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")
    end_user_organization_name: str | None = Field(default=None, min_length=1, max_length=255)


class LinkTokenOut(BaseModel):
    link_token: str
    magic_link_url: str | None = None


class CompleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_token: str = Field(min_length=1, max_length=500, pattern=r"^[A-Za-z0-9._~-]+$")
    options: ConnectionOptions = Field(default_factory=ConnectionOptions)


class ConnectedOut(BaseModel):
    connection: ConnectionOut
    run_id: int | None = Field(description="The first full sync, started at once (None if one was running).")


class MaesnKeysIn(BaseModel):
    """What maesn Connect hands back: the API key and the account key of the tenant's system."""

    model_config = ConfigDict(extra="forbid")

    api_key: Secret = Field(min_length=1, max_length=1000)
    account_key: Secret = Field(min_length=1, max_length=1000)
    base_url: HttpUrl | None = None
    webhook_secret: Secret | None = Field(default=None, min_length=1, max_length=1000)
    options: ConnectionOptions = Field(default_factory=ConnectionOptions)


def _merge(method: str, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
    settings = get_settings()
    if not settings.merge_api_key:
        raise HTTPException(status.HTTP_409_CONFLICT, "this deployment has no Merge API key configured")
    try:
        response = httpx.request(
            method,
            settings.merge_api_url.rstrip("/") + path,
            json=json,
            headers={"Authorization": f"Bearer {settings.merge_api_key}"},
            timeout=settings.http_timeout_seconds,
        )
    except httpx.HTTPError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"Merge could not be reached: {type(exc).__name__}") from None
    if response.status_code in (400, 404):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Merge refused the request (unknown or used token)")
    if response.status_code >= 300:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"Merge answered {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "Merge answered with something other than an object")
    return body


@router.post("/merge/link-token", response_model=LinkTokenOut)
def merge_link_token(tenant_id: TenantId, body: LinkTokenIn) -> LinkTokenOut:
    """A Merge Link token for the app's frontend to open Link with."""
    with db.session() as s:
        tenant = s.get(Tenant, tenant_id)
        assert tenant is not None
        name = body.end_user_organization_name or tenant.name
    answer = _merge(
        "POST",
        "/integrations/create-link-token",
        {
            "end_user_origin_id": tenant_id,
            "end_user_organization_name": name,
            "end_user_email_address": body.end_user_email_address,
            "categories": ["accounting"],
        },
    )
    token = answer.get("link_token")
    if not isinstance(token, str) or not token:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "Merge's answer has no link token")
    magic = answer.get("magic_link_url")
    return LinkTokenOut(link_token=token, magic_link_url=magic if isinstance(magic, str) else None)


@router.post("/merge/complete", response_model=ConnectedOut)
def merge_complete(tenant_id: TenantId, body: CompleteIn) -> ConnectedOut:
    """Exchange Link's public token for the account token, store it encrypted, start the first full sync."""
    answer = _merge("GET", f"/integrations/account-token/{body.public_token}")
    account_token = answer.get("account_token")
    if not isinstance(account_token, str) or not account_token:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "Merge's answer has no account token")
    settings = get_settings()
    with db.session() as s:
        conn = save_connection(
            s,
            tenant_id,
            dialect="merge",
            base_url=settings.merge_api_url.rstrip("/") + "/accounting/v1",
            api_key=str(settings.merge_api_key),
            account_token=account_token,
            options=platform_defaults(_integration_slug(answer), body.options.stored()),
            webhook_secret=settings.merge_webhook_key,
        )
        _remember_linked_account(s, conn, answer.get("id"))
        out = ConnectionOut.of(conn)
    return ConnectedOut(connection=out, run_id=_first_sync(tenant_id))


def _integration_slug(answer: dict[str, Any]) -> str | None:
    """The platform behind the linked account (`integration.slug`: "xero", "quickbooks-online", ...)."""
    integration = answer.get("integration")
    slug = integration.get("slug") if isinstance(integration, dict) else None
    return slug if isinstance(slug, str) else None


def _remember_linked_account(s: Session, conn: Connection, linked_account_id: object) -> None:
    """The linked account's id: a Merge webhook for this tenant must name it."""
    if isinstance(linked_account_id, str) and linked_account_id:
        from contactsync.store.tenant_admin import rotate_credentials

        rotate_credentials(s, conn, {"linked_account_id": linked_account_id})


def _first_sync(tenant_id: str) -> int | None:
    from contactsync.tasks.schedule import trigger_sync

    return trigger_sync(tenant_id, full=True, trigger="connect")


@router.post("/maesn", response_model=ConnectedOut)
def maesn_attach(tenant_id: TenantId, body: MaesnKeysIn) -> ConnectedOut:
    """Attach the keys maesn Connect handed back and start the first full sync."""
    settings = get_settings()
    with db.session() as s:
        conn = save_connection(
            s,
            tenant_id,
            dialect="maesn",
            base_url=str(body.base_url or settings.maesn_api_url).rstrip("/"),
            api_key=body.api_key.get_secret_value(),
            account_token=body.account_key.get_secret_value(),
            options=body.options.stored(),
            webhook_secret=body.webhook_secret.get_secret_value() if body.webhook_secret else None,
        )
        out = ConnectionOut.of(conn)
    return ConnectedOut(connection=out, run_id=_first_sync(tenant_id))
