"""`contactsync match LEFT.csv RIGHT.csv --out LINKS.csv`: the batch matcher, e.g. a dry run before a sync."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from contactsync.matching import BlockingStats, match_all
from contactsync.matching.csvio import CsvError, read_records, write_decisions, write_explanations

# Below this many records a run takes a second or two and a progress bar is only noise.
PROGRESS_THRESHOLD = 5000


def match(
    left: Annotated[Path, typer.Argument(help="CSV of contacts to match (e.g. the accounting platform's).")],
    right: Annotated[Path, typer.Argument(help="CSV of contacts to match against (e.g. the app's).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write left_id,right_id,score,decision.")],
    explain: Annotated[
        Path | None, typer.Option(help="Also write every decision's per-field explanation as JSON lines.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: one per CPU).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr for large files.")] = True,
    calibrate: Annotated[
        bool | None,
        typer.Option(
            "--calibrate/--no-calibrate",
            help="Fit the comparison weights to these two files first (EM, as Splink does). Default: as the "
            "pipeline does, only when 40% or more of the names are people's.",
        ),
    ] = None,
) -> None:
    """Match two contact files and write links and pairs to review.

    Columns read: id,name,email,tax_number,phone,street,city,postal_code,country (only id is required; extra
    columns are ignored). Each left contact links to at most one right contact and vice versa.
    """
    err = Console(stderr=True)
    try:
        left_records = read_records(left)
        right_records = read_records(right)
    except CsvError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    total = len(left_records) + len(right_records)
    stats = BlockingStats()
    show = progress and total >= PROGRESS_THRESHOLD
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not show,
    ) as bar:
        tasks = {
            "prepare": bar.add_task("normalising", total=total),
            "score": bar.add_task("scoring", total=len(left_records)),
        }

        def report(stage: str, done: int, of: int) -> None:
            bar.update(tasks[stage], completed=done, total=of)

        decisions = match_all(
            left_records, right_records, progress=report, workers=workers, stats=stats, calibrate=calibrate
        )
    try:
        write_decisions(out, decisions)
        if explain is not None:
            write_explanations(explain, decisions)
    except OSError as exc:
        typer.echo(f"error: cannot write output: {exc}", err=True)
        raise typer.Exit(code=2) from None
    links = sum(d.decision == "link" for d in decisions)
    typer.echo(
        f"{len(left_records)} x {len(right_records)} contacts, {stats.pairs} pairs compared: "
        f"{links} links, {len(decisions) - links} to review -> {out}",
        err=True,
    )


def register(app: typer.Typer) -> None:
    """Add the `match` command to the contactsync command line."""
    app.command("match")(match)
