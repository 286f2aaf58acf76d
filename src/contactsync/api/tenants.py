"""Tenants and their connection: create, list, inspect, pause, resume, delete; attach and rotate credentials."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from sqlalchemy import select

from contactsync import db
from contactsync.api.deps import Admin, Caller, TenantId, not_found
from contactsync.api.schemas import (
    ConnectionIn,
    ConnectionOptions,
    ConnectionOut,
    CredentialsIn,
    RunOut,
    TenantDetail,
    TenantIn,
    TenantOut,
    TenantPatch,
)
from contactsync.logs import get_logger
from contactsync.models import ACTIVE_RUN_STATES, Tenant
from contactsync.providers.base import ConnectionConfig
from contactsync.providers.platforms import learned_defaults
from contactsync.settings import get_settings
from contactsync.states import ConnectionStatus, TenantState
from contactsync.store.connections import set_options
from contactsync.store.tenant_admin import overview, purge_tenant, rotate_credentials
from contactsync.store.tenants import connection_of, save_connection

log = get_logger(__name__)
router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


def detail(tenant_id: str) -> TenantDetail:
    with db.session() as s:
        tenant = s.get(Tenant, tenant_id)
        if tenant is None:
            raise not_found("no such tenant")
        ov = overview(s, tenant)
        conn = ov.connection
        if conn is None:
            state = TenantState.UNCONNECTED
        elif tenant.paused:
            state = TenantState.PAUSED
        elif conn.status != ConnectionStatus.ACTIVE:
            state = TenantState(conn.status)
        elif ov.last_run is not None and ov.last_run.status in ACTIVE_RUN_STATES:
            state = TenantState.SYNCING
        else:
            state = TenantState.ACTIVE
        return TenantDetail(
            **TenantOut.of(tenant).model_dump(),
            status=state,
            connection=ConnectionOut.of(conn) if conn is not None else None,
            last_run=RunOut.of(ov.last_run) if ov.last_run is not None else None,
            last_success_at=ov.last_success_at,
            lag_seconds=ov.lag_seconds,
            open_reviews=ov.open_reviews,
            failed_writes=ov.failed_writes,
        )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TenantDetail)
def create_tenant(body: TenantIn, who: Admin) -> TenantDetail:
    """Create a tenant (admin keys only). It syncs once a connection is attached."""
    with db.session() as s:
        if s.get(Tenant, body.id) is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, "a tenant with this id exists")
        interval = body.sync_interval_seconds or get_settings().default_sync_interval_seconds
        s.add(Tenant(id=body.id, name=body.name, sync_interval_seconds=interval))
    return detail(body.id)


@router.get("", response_model=list[TenantOut])
def list_tenants(who: Caller) -> list[TenantOut]:
    """Every tenant for an admin key; the key's own tenant for a tenant key."""
    with db.session() as s:
        query = select(Tenant).order_by(Tenant.id)
        if who.tenant_id is not None:
            query = query.where(Tenant.id == who.tenant_id)
        return [TenantOut.of(t) for t in s.scalars(query)]


@router.get("/{tenant_id}", response_model=TenantDetail)
def get_tenant(tenant_id: TenantId) -> TenantDetail:
    """Status, connection (without secrets), last run, lag, open review items and refused writes."""
    return detail(tenant_id)


@router.patch("/{tenant_id}", response_model=TenantDetail)
def update_tenant(tenant_id: TenantId, body: TenantPatch) -> TenantDetail:
    """Rename the tenant or change how often it syncs."""
    with db.session() as s:
        tenant = s.get(Tenant, tenant_id)
        assert tenant is not None
        if body.name is not None:
            tenant.name = body.name
        if body.sync_interval_seconds is not None:
            tenant.sync_interval_seconds = body.sync_interval_seconds
    return detail(tenant_id)


def _set_paused(tenant_id: str, paused: bool) -> TenantDetail:
    with db.session() as s:
        tenant = s.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.paused = paused
    return detail(tenant_id)


@router.post("/{tenant_id}/pause", response_model=TenantDetail)
def pause_tenant(tenant_id: TenantId) -> TenantDetail:
    """No new runs start until resumed (a run under way finishes)."""
    return _set_paused(tenant_id, True)


@router.post("/{tenant_id}/resume", response_model=TenantDetail)
def resume_tenant(tenant_id: TenantId) -> TenantDetail:
    return _set_paused(tenant_id, False)


@router.delete("/{tenant_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_tenant(tenant_id: TenantId, who: Admin) -> Response:
    """Delete the tenant and purge all its data here (admin keys only). Nothing is deleted on the platform."""
    with db.session() as s:
        purge_tenant(s, tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{tenant_id}/connection", response_model=ConnectionOut)
def attach_connection(tenant_id: TenantId, body: ConnectionIn) -> ConnectionOut:
    """Attach (or replace) the tenant's connection. Secrets are stored encrypted and never returned. For a Merge
    linked account, options the request does not set are completed with what is known of the platform behind it
    (one short `/account-details` request, as Connect through Link and `contactsync tenants add` do; see
    `providers.platforms`)."""
    config = ConnectionConfig(
        body.dialect,
        str(body.base_url).rstrip("/"),
        body.api_key.get_secret_value(),
        body.account_token.get_secret_value(),
        body.options.stored(),
    )
    options, note = learned_defaults(config)  # asked before the transaction: no row is held while it waits
    if note:
        log.info("connection options", tenant_id=tenant_id, note=note)
    with db.session() as s:
        conn = save_connection(
            s,
            tenant_id,
            dialect=config.dialect,
            base_url=config.base_url,
            api_key=config.api_key,
            account_token=config.account_token,
            options=options,
            webhook_secret=body.webhook_secret.get_secret_value() if body.webhook_secret else None,
        )
        return ConnectionOut.of(conn)


@router.post("/{tenant_id}/connection/credentials", response_model=ConnectionOut)
def rotate_connection_credentials(tenant_id: TenantId, body: CredentialsIn) -> ConnectionOut:
    """Replace some or all of the connection's secrets; those not given are kept."""
    with db.session() as s:
        conn = connection_of(s, tenant_id)
        if conn is None:
            raise not_found("the tenant has no connection")
        rotate_credentials(s, conn, {k: v.get_secret_value() for k, v in body if v is not None})
        return ConnectionOut.of(conn)


@router.put("/{tenant_id}/connection/options", response_model=ConnectionOut)
def set_connection_options(tenant_id: TenantId, body: ConnectionOptions) -> ConnectionOut:
    """Replace the connection's options (conflict policy, rate limit, page size, …); the next run uses them."""
    with db.session() as s:
        conn = connection_of(s, tenant_id)
        if conn is None:
            raise not_found("the tenant has no connection")
        set_options(conn, body.stored())
        return ConnectionOut.of(conn)
