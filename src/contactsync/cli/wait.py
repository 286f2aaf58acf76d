"""`sync --wait`: follow one run to its end, showing how far it has got, and exit with what happened.

A script calling `contactsync sync T --wait` must never hang and must learn why a run failed, so the wait has a
timeout, every change of progress is printed as one line, and the exit code says how it ended: 0 succeeded,
1 failed or paused (the reason printed), 3 still running when the timeout passed.
"""

from __future__ import annotations

import time

import typer
from rich.console import Console

from contactsync import db
from contactsync.models import RunStatus, SyncRun

EXIT_TIMEOUT = 3


def progress_line(run: SyncRun) -> str:
    line = (
        f"run {run.id} {run.status}: {run.pages_fetched} pages fetched ({run.fetched} contacts), "
        f"{run.linked + run.reviewed} reconciled, {run.created_remote + run.updated_remote} writes done"
    )
    if run.write_errors:
        line += f", {run.write_errors} refused"
    if run.finished_at is None and run.error:
        line += f" — {run.error}"  # why it is not moving: the last error it is retrying after
    return line


def wait_for_run(console: Console, run_id: int, timeout: float | None, poll: float = 1.0) -> None:
    """Print progress until the run ends or `timeout` seconds pass; raises `typer.Exit` with the outcome."""
    deadline = None if timeout is None else time.monotonic() + timeout
    shown = ""
    while True:
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            if run is None:
                console.print(f"run {run_id} no longer exists")
                raise typer.Exit(1)
            line = progress_line(run)
            finished, status, error = run.finished_at is not None, run.status, run.error
        if line != shown:
            console.print(line, highlight=False, soft_wrap=True)
            shown = line
        if finished:
            if status == RunStatus.SUCCEEDED:
                raise typer.Exit(0)
            console.print(f"run {run_id} {status}: {error or 'no reason recorded'}", highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        if deadline is not None and time.monotonic() >= deadline:
            console.print(f"run {run_id} still {status} after {timeout:.0f} s; it goes on in the workers")
            raise typer.Exit(EXIT_TIMEOUT)
        time.sleep(poll)
