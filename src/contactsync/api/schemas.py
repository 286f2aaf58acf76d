"""Request and response bodies of the tenant, connection and run routes (the OpenAPI spec is made from these).

Secrets are accepted as `SecretStr` and no response model has a field for one, so a secret cannot be echoed
back by mistake.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr, field_validator

from contactsync.api.deps import TENANT_ID_PATTERN
from contactsync.models import RUN_COUNTERS, Connection, SyncRun, Tenant
from contactsync.providers.options import AnyDialectOptions
from contactsync.states import TenantState
from contactsync.validation import check_tenant_id

Secret = SecretStr


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=TENANT_ID_PATTERN)
    name: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00]+$")
    sync_interval_seconds: int | None = Field(default=None, ge=60, le=7 * 86400)

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        return check_tenant_id(value)


class TenantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255, pattern=r"^[^\x00]+$")
    sync_interval_seconds: int | None = Field(default=None, ge=60, le=7 * 86400)


class ConnectionOptions(AnyDialectOptions):
    """Connection options: any dialect's in the schema, checked against the connection's own dialect when set
    (an option of another dialect, or one not listed, is refused rather than silently ignored)."""


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dialect: Literal["merge", "maesn"]
    base_url: HttpUrl
    api_key: Secret = Field(min_length=1, max_length=1000)
    account_token: Secret = Field(min_length=1, max_length=1000)
    webhook_secret: Secret | None = Field(default=None, max_length=1000)
    options: ConnectionOptions = Field(default_factory=ConnectionOptions)


class CredentialsIn(BaseModel):
    """New secrets for the connection; the ones left out are kept."""

    model_config = ConfigDict(extra="forbid")

    api_key: Secret | None = Field(default=None, min_length=1, max_length=1000)
    account_token: Secret | None = Field(default=None, min_length=1, max_length=1000)
    webhook_secret: Secret | None = Field(default=None, min_length=1, max_length=1000)


class ConnectionOut(BaseModel):
    dialect: str
    base_url: str
    status: str
    status_reason: str | None
    options: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, conn: Connection) -> ConnectionOut:
        return cls(
            dialect=conn.dialect,
            base_url=conn.base_url,
            status=conn.status,
            status_reason=conn.status_reason,
            options=dict(conn.options or {}),
            created_at=conn.created_at,
        )


class RunOut(BaseModel):
    id: int
    kind: str
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    counters: dict[str, int]

    @classmethod
    def of(cls, run: SyncRun) -> RunOut:
        return cls(
            id=run.id,
            kind=run.kind,
            status=run.status,
            trigger=run.trigger,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error=run.error,
            counters={c: int(getattr(run, c)) for c in RUN_COUNTERS},
        )


class TenantOut(BaseModel):
    # Every field is the tenant row's own, read off it by name (`TenantOut.of`).
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    paused: bool
    sync_interval_seconds: int
    next_sync_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return TenantOut.model_validate(tenant)


class TenantDetail(TenantOut):
    status: TenantState
    connection: ConnectionOut | None
    last_run: RunOut | None
    last_success_at: datetime | None
    lag_seconds: float | None = Field(description="Age of the newest platform change known to have been read.")
    open_reviews: int
    failed_writes: int
