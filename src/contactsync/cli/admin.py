"""Administrative commands: keys, schema, tenants, manual syncs, run history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contactsync import db
from contactsync.crypto import new_key
from contactsync.embedded import running_services
from contactsync.models import Tenant
from contactsync.validation import InputError

console = Console()


def register(app: typer.Typer) -> None:
    dbapp = typer.Typer(help="Database schema.", no_args_is_help=True)
    contacts = typer.Typer(help="The application's own contacts.", no_args_is_help=True)
    app.add_typer(contacts, name="contacts")

    @contacts.command("import")
    def contacts_import(tenant_id: str, path: Path) -> None:
        """Load the app's contacts from CSV (id,name,email,tax_number,phone,street,city,postal_code,country,
        is_customer,is_supplier,updated_at); bad rows are reported and skipped, the rest imported. Missing columns
        and blank cells are unknown: they never overwrite the platform. `updated_at` is the app's own edit time;
        without it the platform's values win on a first link. Re-importing is safe."""
        from contactsync.appimport import RowError, read_app_contacts
        from contactsync.appinput import AppInput
        from contactsync.store.contacts import upsert_app_contacts

        good: list[AppInput] = []
        bad: list[RowError] = []
        try:
            for item in read_app_contacts(path):
                if isinstance(item, RowError):
                    bad.append(item)
                else:
                    good.append(item)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        with running_services():
            db.ensure_schema()
            with db.session() as s:
                if s.get(Tenant, tenant_id) is None:
                    console.print(f"[red]no tenant {tenant_id!r}; add it with `contactsync tenants add`[/red]")
                    raise typer.Exit(2)
                created, changed = 0, 0
                for start in range(0, len(good), 1000):
                    c, u = upsert_app_contacts(s, tenant_id, good[start : start + 1000])
                    created, changed = created + c, changed + u
        for err in bad[:50]:
            console.print(f"line {err.line}: {err.reason}")
        console.print(
            f"{created} created, {changed} changed, {len(good) - created - changed} unchanged, {len(bad)} rejected"
        )
        if bad:
            raise typer.Exit(1)

    writes = typer.Typer(help="Writes the platform refused.", no_args_is_help=True)
    app.add_typer(writes, name="writes")

    @writes.command("failed")
    def writes_failed(tenant_id: str, limit: Annotated[int, typer.Option()] = 50) -> None:
        """Writes the platform refused, with its reason."""
        from contactsync.store.ledger import failed_ops

        with running_services():
            db.require_schema()
            table = Table("entry", "kind", "app contact", "attempts", "reason")
            with db.session() as s:
                for op in failed_ops(s, tenant_id, limit):
                    table.add_row(str(op.id), op.kind, str(op.payload.get("name", op.app_contact_id)),
                                  str(op.attempts), (op.last_error or "")[:200])  # fmt: skip
            console.print(table)

    @writes.command("parked")
    def writes_parked(tenant_id: str, limit: Annotated[int, typer.Option()] = 100) -> None:
        """Creates whose answer was lost: each run looks for them; sent again only once proven absent."""
        from contactsync.store.ledger import parked_ops

        with running_services():
            db.require_schema()
            table = Table("entry", "app contact", "first sent", "reason")
            with db.session() as s:
                for op in parked_ops(s, tenant_id, limit):
                    table.add_row(str(op.id), str(op.payload.get("name", op.app_contact_id)),
                                  str(op.first_sent_at), (op.last_error or "")[:200])  # fmt: skip
            console.print(table)

    @writes.command("retry")
    def writes_retry(tenant_id: str) -> None:
        """Send the refused writes again with the next run, which starts now."""
        from contactsync.store.ledger import reopen_failed
        from contactsync.tasks.schedule import trigger_sync

        with running_services():
            with db.session() as s:
                count = reopen_failed(s, tenant_id)
            run_id = trigger_sync(tenant_id, trigger="retry") if count else None
        console.print(f"{count} writes reopened" + (f"; run {run_id} started" if run_id else ""))

    review = typer.Typer(help="The matcher's unsure cases, decided by a person.", no_args_is_help=True)
    app.add_typer(dbapp, name="db")
    app.add_typer(review, name="review")

    @review.command("list")
    def review_list(tenant_id: str, limit: Annotated[int, typer.Option()] = 50) -> None:
        """Open review items with their candidates and the engine's score."""
        from contactsync.store.review import open_items

        with running_services():
            db.require_schema()
            with db.session() as s:
                items = open_items(s, tenant_id, limit)
            table = Table("item", "platform contact", "candidate (app id)", "score")
            for it in items:
                for i, c in enumerate(it["candidates"]):
                    first = i == 0
                    table.add_row(
                        (str(it["item"]) + ("" if it["reason"] == "match" else f" ({it['reason']})")) if first else "",
                        it["remote"]["name"] if first else "",
                        f"{c['name']} ({c['app_id']})",
                        f"{c['score']:.3f}",
                    )
            console.print(table)

    @review.command("link")
    def review_link(
        tenant_id: str, item: int, app_id: str, by: Annotated[str, typer.Option(help="who decided")] = "cli"
    ) -> None:
        """Link the item's platform contact to the app contact APP_ID."""
        from contactsync.store.review import link

        with running_services(), db.session() as s:
            link(s, tenant_id, item, app_id, by)
        console.print(f"item {item} linked to {app_id}")

    @review.command("reject")
    def review_reject(tenant_id: str, item: int, by: Annotated[str, typer.Option()] = "cli") -> None:
        """None of the candidates is this platform contact: they may be created on the platform."""
        from contactsync.store.review import reject

        with running_services(), db.session() as s:
            reject(s, tenant_id, item, by)
        console.print(f"item {item} rejected")

    @app.command()
    def keygen() -> None:
        """Print a new CONTACTSYNC_SECRET_KEY (a Fernet key)."""
        typer.echo(new_key())

    @dbapp.command("upgrade")
    def db_upgrade(revision: str = "head") -> None:
        """Apply the Alembic migrations."""
        with running_services():
            db.upgrade(revision=revision)
            console.print(f"database upgraded to {revision}")
            # Stored contacts' blocking keys follow the current key rules (see `store.backfill`).
            from contactsync.store.backfill import refresh_keys

            console.print(f"blocking keys refreshed for {refresh_keys()} app contacts")

    @app.command()
    def sync(
        tenant_id: str,
        full: Annotated[bool, typer.Option("--full", help="walk everything, not just changes")] = False,
        wait: Annotated[bool, typer.Option("--wait", help="wait until the run ends (workers must be running)")] = False,
        timeout: Annotated[
            float | None, typer.Option(help="with --wait: give up waiting after this many seconds (exit 3)")
        ] = None,
    ) -> None:
        """Start a sync of one tenant now; running workers carry it out. With --wait, show its progress and exit
        0 when it succeeded, 1 with the reason when it failed or paused."""
        from contactsync.cli.wait import wait_for_run
        from contactsync.tasks.schedule import trigger_sync

        with running_services():
            db.ensure_schema()
            try:
                run_id = trigger_sync(tenant_id, full=full)
            except LookupError as exc:
                raise InputError(str(exc)) from None
            if run_id is None:
                console.print(f"tenant {tenant_id} already has a sync running")
                raise typer.Exit(1)
            console.print(f"run {run_id} started")
            if wait:
                wait_for_run(console, run_id, timeout)
