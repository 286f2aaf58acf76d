"""Administrative commands: the secret key, the database schema, and a manual sync."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from contactsync import db
from contactsync.crypto import new_key
from contactsync.embedded import running_services
from contactsync.validation import InputError

console = Console()
schema = typer.Typer(help="Database schema.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(schema, name="db")
    app.command()(keygen)
    app.command()(sync)


def keygen() -> None:
    """Print a new CONTACTSYNC_SECRET_KEY (a Fernet key)."""
    typer.echo(new_key())


@schema.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the Alembic migrations."""
    with running_services():
        db.upgrade(revision=revision)
        console.print(f"database upgraded to {revision}")
        # Stored contacts' blocking keys follow the current key rules (see `store.backfill`).
        from contactsync.store.backfill import refresh_keys

        console.print(f"blocking keys refreshed for {refresh_keys()} app contacts")


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
