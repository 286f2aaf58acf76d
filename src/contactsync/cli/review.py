"""`contactsync review list|link|reject`: the matcher's unsure cases, decided by a person."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from contactsync import db
from contactsync.embedded import running_services

console = Console()
review = typer.Typer(help="The matcher's unsure cases, decided by a person.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
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
