"""Who is calling, and which tenant they may touch: the checks every `/v1` route depends on.

Object-level checks answer 404 for another tenant's objects exactly as for objects that do not exist, so a key
cannot be used to learn which tenant ids (or run, item or contact ids) exist elsewhere.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from contactsync import db
from contactsync.models import Tenant
from contactsync.store.apikeys import Principal, authenticate

TENANT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
bearer = HTTPBearer(auto_error=False, description="An API key from `contactsync keys create`.")


def not_found(what: str = "not found") -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, what)


def principal(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    if creds is None or not creds.credentials.isascii():
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid API key", {"WWW-Authenticate": "Bearer"})
    with db.session() as s:
        who = authenticate(s, creds.credentials)
    if who is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid API key", {"WWW-Authenticate": "Bearer"})
    return who


def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if not who.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs an admin key")
    return who


TenantPath = Annotated[str, Path(pattern=TENANT_ID_PATTERN, description="The tenant's id.")]


def tenant_scope(tenant_id: TenantPath, who: Annotated[Principal, Depends(principal)]) -> str:
    """The path's tenant, if it exists and the key may see it; 404 otherwise (the same answer for both)."""
    if not who.may_see(tenant_id):
        raise not_found("no such tenant")
    with db.session() as s:
        if s.get(Tenant, tenant_id) is None:
            raise not_found("no such tenant")
    return tenant_id


Caller = Annotated[Principal, Depends(principal)]
Admin = Annotated[Principal, Depends(admin)]
TenantId = Annotated[str, Depends(tenant_scope)]
