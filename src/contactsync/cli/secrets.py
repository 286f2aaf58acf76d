"""`contactsync secrets rotate` (also `contactsync keys rotate-secrets`): re-encrypt stored credentials.

Key rotation is: put the new key first in CONTACTSYNC_SECRET_KEY (`new,old`), restart the processes, run this
command, then remove the old key. `MultiFernet.rotate` re-encrypts each token with the first key whatever key
sealed it, so after one successful run no stored credential needs the old key.
"""

from __future__ import annotations

import typer
from rich.console import Console

from contactsync import db
from contactsync.embedded import running_services

console = Console()


def rotate() -> None:
    """Re-encrypt every connection's credentials with the first key of CONTACTSYNC_SECRET_KEY."""
    from contactsync.store.tenants import rotate_credentials

    with running_services():
        db.ensure_schema()
        with db.session() as s:
            rotated, unreadable = rotate_credentials(s)
    console.print(f"{rotated} connections re-encrypted with the first key")
    if unreadable:
        console.print(
            f"{len(unreadable)} connections could not be decrypted with any key (tenants: "
            f"{', '.join(unreadable[:20])}); keep the old keys until they are re-added",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Adds `secrets rotate`, and `rotate-secrets` to the `keys` group (created here if no other module did)."""
    group = typer.Typer(help="Stored connection credentials.", no_args_is_help=True)
    group.command("rotate")(rotate)
    app.add_typer(group, name="secrets")
    keys = next((g.typer_instance for g in app.registered_groups if g.name == "keys"), None)
    if keys is None:
        keys = typer.Typer(help="Keys: API keys and the key that encrypts stored credentials.", no_args_is_help=True)
        app.add_typer(keys, name="keys")
    keys.command("rotate-secrets")(rotate)
