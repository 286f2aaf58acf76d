"""Tenants and connections: registering them, and opening a provider for a connection."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contactsync.crypto import Vault
from contactsync.models import Connection, Tenant
from contactsync.providers import pool
from contactsync.providers.base import ConnectionConfig
from contactsync.providers.pool import Leased
from contactsync.providers.registry import DIALECTS, check_options, options_of
from contactsync.settings import ConfigError, get_settings
from contactsync.store.connections import reactivate
from contactsync.validation import check_base_url, check_tenant_id


def vault() -> Vault:
    key = get_settings().secret_key
    if not key:
        raise ConfigError("CONTACTSYNC_SECRET_KEY is not set")
    return Vault(key)


def upsert_tenant(
    s: Session,
    tenant_id: str,
    *,
    name: str,
    dialect: str,
    base_url: str,
    api_key: str,
    account_token: str,
    options: dict[str, Any] | None = None,
    sync_interval_seconds: int | None = None,
    next_sync_at: datetime | None = None,
    webhook_secret: str | None = None,
) -> Tenant:
    """Create the tenant and its connection, or update them in place (re-connecting resets the status).
    Options the dialect cannot take are refused (`OptionsError`) before anything changes."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    stored_options = check_options(dialect, options or {}).stored()
    tenant = s.get(Tenant, tenant_id)
    interval = sync_interval_seconds or get_settings().default_sync_interval_seconds
    if tenant is None:
        check_tenant_id(tenant_id)
        tenant = Tenant(id=tenant_id, name=name, sync_interval_seconds=interval, next_sync_at=next_sync_at)
        s.add(tenant)
        s.flush()
    else:
        tenant.name = name
        tenant.sync_interval_seconds = interval
        if next_sync_at is not None:
            tenant.next_sync_at = next_sync_at
    secrets = {"api_key": api_key, "account_token": account_token}
    if webhook_secret:
        secrets["webhook_secret"] = webhook_secret
    sealed = vault().seal(secrets)
    conn = s.scalar(select(Connection).where(Connection.tenant_id == tenant_id))
    if conn is None:
        conn = Connection(
            tenant_id=tenant_id, dialect=dialect, base_url=base_url, credentials=sealed, options=stored_options
        )
        s.add(conn)
    else:
        conn.dialect, conn.base_url, conn.credentials = dialect, base_url, sealed
        conn.options = stored_options
        reactivate(conn)
    s.flush()
    return tenant


def save_connection(
    s: Session,
    tenant_id: str,
    *,
    dialect: str,
    base_url: str,
    api_key: str,
    account_token: str,
    options: dict[str, Any] | None = None,
    webhook_secret: str | None = None,
) -> Connection:
    """Attach (or replace) an existing tenant's connection: every way of connecting (the API's connection route,
    Merge Link, maesn Connect) stores it the same way, and none of them may rename the tenant or move its schedule."""
    tenant = s.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError(f"no tenant {tenant_id!r}")
    upsert_tenant(
        s,
        tenant_id,
        name=tenant.name,
        dialect=dialect,
        base_url=base_url,
        api_key=api_key,
        account_token=account_token,
        options=options,
        sync_interval_seconds=tenant.sync_interval_seconds,
        webhook_secret=webhook_secret,
    )
    conn = connection_of(s, tenant_id)
    assert conn is not None  # upsert_tenant just wrote it
    return conn


def update_tenant(
    s: Session,
    tenant_id: str,
    *,
    name: str | None = None,
    dialect: str | None = None,
    base_url: str | None = None,
    secrets: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
    unset_options: list[str] | None = None,
    sync_interval_seconds: int | None = None,
) -> Tenant:
    """Change only what is given: credentials are merged into the stored ones, options key by key.

    A new URL, dialect or credential is a re-connection, so the connection becomes active again.
    """
    tenant = s.get(Tenant, tenant_id)
    conn = connection_of(s, tenant_id)
    if tenant is None or conn is None:
        raise LookupError(f"no tenant {tenant_id!r}; add it with `contactsync tenants add`")
    if dialect is not None and dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    new_options = dict(conn.options or {})
    if options or unset_options or (dialect is not None and dialect != conn.dialect):
        # The options as they will be, checked against the dialect the connection will have.
        kept = {k: v for k, v in new_options.items() if k not in (unset_options or [])}
        new_options = check_options(dialect or conn.dialect, {**kept, **(options or {})}).stored()
    if name is not None:
        tenant.name = name
    if sync_interval_seconds is not None:
        tenant.sync_interval_seconds = sync_interval_seconds
    if new_options != conn.options:
        conn.options = new_options
    reconnect = False
    if secrets:
        store = vault()
        conn.credentials = store.seal({**store.open(conn.credentials), **secrets})
        reconnect = True
    if dialect is not None and dialect != conn.dialect:
        conn.dialect, reconnect = dialect, True
    if base_url is not None and base_url != conn.base_url:
        conn.base_url, reconnect = base_url, True
    if reconnect:
        reactivate(conn)
    s.flush()
    return tenant


def rotate_credentials(s: Session) -> tuple[int, list[str]]:
    """Re-encrypt every connection's credentials with the first key of CONTACTSYNC_SECRET_KEY.

    Returns (rotated, tenants whose credentials no key can decrypt); those are left as they are, and the caller
    must not report the old key as removable while any remain.
    """
    store = vault()
    rotated, unreadable = 0, []
    for conn in s.scalars(select(Connection).order_by(Connection.id).with_for_update()):
        try:
            conn.credentials = store.rotate(conn.credentials)
            rotated += 1
        except ConfigError:
            unreadable.append(conn.tenant_id)
    s.flush()
    return rotated, unreadable


def connection_secrets(s: Session, connection_id: int) -> list[str]:
    """Every credential of the connection (API key, account token, webhook secret), to mask in stored text;
    none when they cannot be decrypted (then they cannot have been sent either)."""
    conn = s.get(Connection, connection_id)
    if conn is None:
        return []
    try:
        return [str(v) for v in vault().open(conn.credentials).values() if v]
    except ConfigError:
        return []


def connection_of(s: Session, tenant_id: str) -> Connection | None:
    return s.scalar(select(Connection).where(Connection.tenant_id == tenant_id))


class TenantMismatch(RuntimeError):
    """A row reached through another (a run's or ledger entry's connection) is missing or another tenant's."""


def owned_connection(s: Session, tenant_id: str, connection_id: int) -> Connection:
    """The connection a tenant's run or ledger entry points at. A real check, not an `assert` (those vanish
    under `python -O`): with another tenant's connection a task would send that tenant's credentials and mix
    its books into this one's."""
    conn = s.get(Connection, connection_id)
    if conn is None or conn.tenant_id != tenant_id:
        raise TenantMismatch(f"connection {connection_id} is not tenant {tenant_id!r}'s")
    return conn


def connection_config(conn: Connection) -> ConnectionConfig:
    # Checked again where credentials are about to be sent: a row may predate the check or come another way.
    check_base_url(conn.base_url, options_of(conn.dialect, conn.options))
    secrets = vault().open(conn.credentials)
    settings = get_settings()
    return ConnectionConfig(
        dialect=conn.dialect,
        base_url=conn.base_url,
        api_key=str(secrets["api_key"]),
        account_token=str(secrets["account_token"]),
        options=dict(conn.options or {}),
        timeout_seconds=settings.http_timeout_seconds,
        deadline_seconds=settings.http_deadline_seconds,
        max_response_bytes=settings.max_response_bytes,
    )


def provider_for(conn: Connection) -> Leased:
    """The connection's pooled provider and the meter counting its calls (see `providers.pool`): the row is read
    here, the plumbing lives with the providers."""
    built_from = [conn.dialect, conn.base_url, hashlib.sha256(conn.credentials).hexdigest(), conn.options or {}]
    fingerprint = hashlib.sha256(json.dumps(built_from, sort_keys=True, default=str).encode()).hexdigest()
    return pool.lease(conn.id, fingerprint, lambda: connection_config(conn))


def requests_per_minute(conn: Connection) -> int:
    """The connection's request budget (what its shared rate-limit bucket admits), read from the row."""
    return pool.requests_per_minute(conn.dialect, dict(conn.options or {}))
