"""Push registration: the app gives a URL (per tenant, or one for every tenant) and a secret, and gets the
changes feed POSTed there as it grows, signed (`X-Contactsync-Signature: t=…,v1=…`, see `store.push.sign`)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

from contactsync import db
from contactsync.api.deps import Admin, TenantId, not_found
from contactsync.models import PushTarget
from contactsync.store.push import get_target, remove_target, set_target

router = APIRouter(tags=["push"])


class PushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    secret: SecretStr = Field(min_length=16, max_length=500, description="Signs every delivery; never returned.")


class PushOut(BaseModel):
    url: str
    tenant_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, target: PushTarget) -> PushOut:
        return cls(url=target.url, tenant_id=target.tenant_id, created_at=target.created_at)


def _set(tenant_id: str | None, body: PushIn) -> PushOut:
    with db.session() as s:
        return PushOut.of(set_target(s, tenant_id, str(body.url), body.secret.get_secret_value()))


def _get(tenant_id: str | None) -> PushOut:
    with db.session() as s:
        target = get_target(s, tenant_id)
        if target is None:
            raise not_found("no push target")
        return PushOut.of(target)


def _remove(tenant_id: str | None) -> Response:
    with db.session() as s:
        if not remove_target(s, tenant_id):
            raise not_found("no push target")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/v1/tenants/{tenant_id}/push", response_model=PushOut)
def set_tenant_push(tenant_id: TenantId, body: PushIn) -> PushOut:
    """POST this tenant's changes to `url` from now on (from the first one it has not received)."""
    return _set(tenant_id, body)


@router.get("/v1/tenants/{tenant_id}/push", response_model=PushOut)
def get_tenant_push(tenant_id: TenantId) -> PushOut:
    return _get(tenant_id)


@router.delete("/v1/tenants/{tenant_id}/push", status_code=status.HTTP_204_NO_CONTENT)
def remove_tenant_push(tenant_id: TenantId) -> Response:
    return _remove(tenant_id)


@router.put("/v1/push", response_model=PushOut)
def set_global_push(body: PushIn, who: Admin) -> PushOut:
    """POST every tenant's changes to `url` (admin keys only)."""
    return _set(None, body)


@router.get("/v1/push", response_model=PushOut)
def get_global_push(who: Admin) -> PushOut:
    return _get(None)


@router.delete("/v1/push", status_code=status.HTTP_204_NO_CONTENT)
def remove_global_push(who: Admin) -> Response:
    return _remove(None)
