"""`contactsync writes failed|parked|retry`: the write ledger's entries that need an operator's eye."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contactsync import db
from contactsync.embedded import running_services

console = Console()
writes = typer.Typer(help="Writes the platform refused.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(writes, name="writes")


@writes.command("failed")
def writes_failed(tenant_id: str, limit: Annotated[int, typer.Option()] = 50) -> None:
    """Writes the platform refused, with its reason."""
    from contactsync.store.refused_writes import failed_ops

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
    from contactsync.store.refused_writes import parked_ops

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
    from contactsync.store.refused_writes import reopen_failed
    from contactsync.tasks.schedule import trigger_sync

    with running_services():
        with db.session() as s:
            done = reopen_failed(s, tenant_id)
        run_id = trigger_sync(tenant_id, trigger="retry") if done.reopened or done.superseded else None
    superseded = f", {done.superseded} superseded by newer changes (sent as they are now)" if done.superseded else ""
    console.print(f"{done.reopened} writes reopened{superseded}" + (f"; run {run_id} started" if run_id else ""))
