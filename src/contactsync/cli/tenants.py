"""`contactsync tenants add|update|list`: tenants and their connection to a platform.

`add` refuses a tenant that exists (re-adding used to wipe its webhook secret, options and interval) and
`update` changes only what it is given. Every value is checked before a server is started, so a mistyped
dialect or URL costs one line and exit code 2.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from contactsync import db
from contactsync.embedded import running_services
from contactsync.models import Connection, Tenant
from contactsync.providers.registry import DIALECTS, check_options
from contactsync.validation import InputError, check_base_url, check_tenant_id

console = Console()

ApiKey = Annotated[str, typer.Option(envvar="CONTACTSYNC_PROVIDER_API_KEY", help="the unified API's key")]
AccountToken = Annotated[str, typer.Option(envvar="CONTACTSYNC_ACCOUNT_TOKEN", help="the linked account's token")]
WebhookSecret = Annotated[
    str | None, typer.Option(envvar="CONTACTSYNC_WEBHOOK_SECRET", help="key the provider signs webhooks with")
]
Options = Annotated[list[str] | None, typer.Option("--option", help="connection option key=value, repeatable")]
Interval = Annotated[int | None, typer.Option(min=10, help="seconds between scheduled syncs")]


def parse_options(items: list[str] | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"invalid option {item[:80]!r}: expected key=value")
        options[key.strip()] = _coerce(value)
    return options


def _coerce(value: str) -> object:
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(value)
    except ValueError:
        return value


def _with_platform_defaults(
    dialect: str, base_url: str, api_key: str, account_token: str, stored: dict[str, Any]
) -> dict[str, Any]:
    """The options completed with what `providers.platforms` knows about the platform behind a Merge linked
    account (`learned_defaults`), with a note of what was learned or why nothing was."""
    from contactsync.providers.base import ConnectionConfig
    from contactsync.providers.platforms import learned_defaults

    options, note = learned_defaults(ConnectionConfig(dialect, base_url, api_key, account_token, stored))
    if note:
        console.print(note, soft_wrap=True)
    return options


def _check_dialect(dialect: str) -> str:
    if dialect not in DIALECTS:
        raise InputError(f"unknown dialect {dialect[:40]!r}; known: {', '.join(DIALECTS)}")
    return dialect


def register(app: typer.Typer) -> None:
    tenants = typer.Typer(help="Tenants and their connections.", no_args_is_help=True)
    app.add_typer(tenants, name="tenants")

    @tenants.command("add")
    def tenants_add(
        tenant_id: str,
        base_url: Annotated[str, typer.Option(help="API root, e.g. https://api.merge.dev/api/accounting/v1")],
        api_key: ApiKey,
        account_token: AccountToken,
        dialect: Annotated[str, typer.Option(help="merge or maesn")] = "merge",
        name: Annotated[str | None, typer.Option()] = None,
        interval: Interval = None,
        option: Options = None,
        webhook_secret: WebhookSecret = None,
    ) -> None:
        """Add a tenant with its connection (credentials are stored encrypted); refused if it exists."""
        from contactsync.store.tenants import upsert_tenant

        check_tenant_id(tenant_id)
        _check_dialect(dialect)
        options = check_options(dialect, parse_options(option))
        check_base_url(base_url, options)
        with running_services():
            db.ensure_schema()
            with db.session() as s:
                if s.get(Tenant, tenant_id) is not None:
                    raise InputError(f"tenant {tenant_id!r} exists; change it with `contactsync tenants update`")
            stored = _with_platform_defaults(dialect, base_url, api_key, account_token, options.stored())
            with db.session() as s:
                upsert_tenant(
                    s,
                    tenant_id,
                    name=name or tenant_id,
                    dialect=dialect,
                    base_url=base_url,
                    api_key=api_key,
                    account_token=account_token,
                    options=stored,
                    sync_interval_seconds=interval,
                    webhook_secret=webhook_secret,
                )
        console.print(f"tenant {tenant_id} added")

    @tenants.command("update")
    def tenants_update(
        tenant_id: str,
        base_url: Annotated[str | None, typer.Option()] = None,
        api_key: Annotated[str | None, typer.Option()] = None,
        account_token: Annotated[str | None, typer.Option()] = None,
        webhook_secret: Annotated[str | None, typer.Option()] = None,
        dialect: Annotated[str | None, typer.Option()] = None,
        name: Annotated[str | None, typer.Option()] = None,
        interval: Interval = None,
        option: Options = None,
        unset_option: Annotated[list[str] | None, typer.Option(help="remove a connection option, repeatable")] = None,
    ) -> None:
        """Change only the given fields of a tenant and its connection; everything else is kept."""
        from contactsync.store.tenants import update_tenant

        check_tenant_id(tenant_id)
        if dialect is not None:
            _check_dialect(dialect)
        options = parse_options(option)
        secrets = {
            k: v
            for k, v in {"api_key": api_key, "account_token": account_token, "webhook_secret": webhook_secret}.items()
            if v is not None
        }
        with running_services():
            db.ensure_schema()
            with db.session() as s:
                conn = s.scalar(select(Connection).where(Connection.tenant_id == tenant_id))
                if conn is None:
                    raise InputError(f"no tenant {tenant_id!r}; add it with `contactsync tenants add`")
                merged = {k: v for k, v in {**conn.options, **options}.items() if k not in (unset_option or [])}
                check_base_url(base_url or conn.base_url, check_options(dialect or conn.dialect, merged))
                update_tenant(
                    s,
                    tenant_id,
                    name=name,
                    dialect=dialect,
                    base_url=base_url,
                    secrets=secrets,
                    options=options,
                    unset_options=unset_option,
                    sync_interval_seconds=interval,
                )
        console.print(f"tenant {tenant_id} updated")

    @tenants.command("list")
    def tenants_list() -> None:
        """List tenants with their connection status and next scheduled sync."""
        with running_services():
            db.require_schema()
            table = Table("tenant", "dialect", "status", "next sync")
            with db.session() as s:
                for tenant, conn in s.execute(
                    select(Tenant, Connection).join(Connection, Connection.tenant_id == Tenant.id).order_by(Tenant.id)
                ):
                    table.add_row(tenant.id, conn.dialect, conn.status, str(tenant.next_sync_at or "now"))
            console.print(table)
