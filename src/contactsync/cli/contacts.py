"""`contactsync contacts import`: the application's own contacts, loaded from CSV."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from contactsync import db
from contactsync.embedded import running_services
from contactsync.validation import InputError

console = Console()
contacts = typer.Typer(help="The application's own contacts.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(contacts, name="contacts")


@contacts.command("import")
def contacts_import(tenant_id: str, path: Path) -> None:
    """Load the app's contacts from CSV (id,name,email,tax_number,phone,street,city,postal_code,country,
    is_customer,is_supplier,updated_at); bad rows are reported and skipped, the rest imported. Missing columns
    and blank cells are unknown: they never overwrite the platform. `updated_at` is the app's own edit time;
    without it the platform's values win on a first link. Re-importing is safe."""
    from contactsync.appimport import RowError, read_app_contacts
    from contactsync.appinput import AppInput
    from contactsync.store.imports import import_app_contacts

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
            try:
                created, changed = import_app_contacts(s, tenant_id, good)
            except LookupError as exc:
                console.print(f"[red]{exc.args[0]}[/red]")
                raise typer.Exit(2) from None
    for err in bad[:50]:
        console.print(f"line {err.line}: {err.reason}")
    console.print(
        f"{created} created, {changed} changed, {len(good) - created - changed} unchanged, {len(bad)} rejected"
    )
    if bad:
        raise typer.Exit(1)
