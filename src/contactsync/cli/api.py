"""The API server and its keys: `contactsync serve`, `contactsync keys create|list|revoke`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contactsync import db
from contactsync.embedded import running_services

console = Console()


def serve_app(host: str, port: int) -> None:
    """Serve the API, the review page and the webhooks in the foreground until stopped."""
    import uvicorn

    from contactsync.api import create_app

    with running_services():
        db.upgrade()
        uvicorn.run(create_app(), host=host, port=port, log_level="info", proxy_headers=True)


def register(app: typer.Typer) -> None:
    keys = typer.Typer(help="API keys (shown once, stored hashed).", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @app.command()
    def serve(
        port: Annotated[int, typer.Option()] = 8080,
        host: Annotated[str, typer.Option()] = "127.0.0.1",
    ) -> None:
        """Serve the HTTP API (/v1, /docs, /openapi.json), the review page and provider webhooks."""
        serve_app(host, port)

    @keys.command("create")
    def keys_create(
        admin: Annotated[bool, typer.Option("--admin", help="a key for every tenant")] = False,
        tenant: Annotated[str | None, typer.Option("--tenant", help="a key for this tenant only")] = None,
        label: Annotated[str | None, typer.Option(help="a note to tell keys apart")] = None,
    ) -> None:
        """Create a key and print it (on the last line, alone): it is not shown again."""
        from contactsync.models import Tenant
        from contactsync.store.apikeys import create_key

        if admin == (tenant is not None):
            console.print("[red]give exactly one of --admin or --tenant T[/red]")
            raise typer.Exit(2)
        with running_services():
            db.upgrade()
            with db.session() as s:
                if tenant is not None and s.get(Tenant, tenant) is None:
                    console.print(f"[red]no tenant {tenant!r}[/red]")
                    raise typer.Exit(2)
                row, key = create_key(s, tenant, label)
                key_id = row.id
        console.print(f"key {key_id} for {'every tenant (admin)' if admin else 'tenant ' + str(tenant)}; keep it now:")
        typer.echo(key)

    @keys.command("list")
    def keys_list() -> None:
        """Keys with their scope and state (never the key itself)."""
        from contactsync.store.apikeys import list_keys

        with running_services():
            db.upgrade()
            table = Table("id", "starts with", "scope", "label", "created", "revoked")
            with db.session() as s:
                for k in list_keys(s):
                    table.add_row(
                        str(k.id), k.prefix + "…", k.tenant_id or "admin", k.label or "",
                        f"{k.created_at:%Y-%m-%d %H:%M}", f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
                    )  # fmt: skip
            console.print(table)

    @keys.command("revoke")
    def keys_revoke(key_id: int) -> None:
        """Revoke a key: requests with it answer 401 from now on."""
        from contactsync.store.apikeys import revoke

        with running_services():
            db.upgrade()
            with db.session() as s:
                found = revoke(s, key_id)
        if not found:
            console.print(f"[red]no key {key_id}[/red]")
            raise typer.Exit(1)
        console.print(f"key {key_id} revoked")
