"""Push registration: the app gives a URL (per tenant, or one for every tenant) and a secret, and gets the
changes feed POSTed there as it grows, signed (`X-Contactsync-Signature: t=…,v1=…`, see `store.push.sign`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

from contactsync import db
from contactsync.api.deps import Admin, not_found, tenant_scope
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


def _everyone(who: Admin) -> None:
    """The deployment-wide target (no tenant): admin keys only."""
    return None


def _target_routes(path: str, scope: Callable[..., str | None], *, which: str, set_doc: str) -> None:
    """Set, read and remove one push target: the same three routes for a tenant's target (`scope` checks the key
    may see the tenant and names it) and for every tenant's (`scope` admits admin keys and names none)."""

    def set_push(body: PushIn, tenant_id: str | None = Depends(scope)) -> PushOut:
        with db.session() as s:
            return PushOut.of(set_target(s, tenant_id, str(body.url), body.secret.get_secret_value()))

    def get_push(tenant_id: str | None = Depends(scope)) -> PushOut:
        with db.session() as s:
            target = get_target(s, tenant_id)
            if target is None:
                raise not_found("no push target")
            return PushOut.of(target)

    def remove_push(tenant_id: str | None = Depends(scope)) -> Response:
        with db.session() as s:
            if not remove_target(s, tenant_id):
                raise not_found("no push target")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    router.put(path, response_model=PushOut, name=f"set_{which}_push", description=set_doc)(set_push)
    router.get(path, response_model=PushOut, name=f"get_{which}_push")(get_push)
    router.delete(path, status_code=status.HTTP_204_NO_CONTENT, name=f"remove_{which}_push")(remove_push)


_target_routes(
    "/v1/tenants/{tenant_id}/push",
    tenant_scope,
    which="tenant",
    set_doc="POST this tenant's changes to `url` from now on (from the first one it has not received).",
)
_target_routes("/v1/push", _everyone, which="global", set_doc="POST every tenant's changes to `url` (admin keys only).")
