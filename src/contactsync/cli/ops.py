"""Operator commands: `status`, `runs`, `metrics` and `flower` — what the on-call engineer reaches for first.

Tables are laid out for an 80-column terminal: short headers, times as ages and durations, and the rarer counters
behind `--wide`; the column meanings are in each command's help.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from contactsync import db
from contactsync.embedded import running_services
from contactsync.models import SyncRun
from contactsync.models.base import utcnow
from contactsync.states import ConnectionStatus

console = Console()


def duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h10m`, `3d04h`: short enough for a narrow column, exact enough to act on."""
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def clock(at: datetime | None) -> str:
    """A UTC time as `MM-DD HH:MM`: the year is rarely in doubt when reading recent runs, `took` has the rest."""
    return at.strftime("%m-%d %H:%M") if at else "-"


def _table(*headers: str) -> Table:
    """A borderless table, one space between columns: what fits the most into 80 columns and still reads."""
    table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for h in headers:
        left = h in ("tenant", "status", "started", "outcome", "conn", "last", "kind", "trigger", "error")
        # Names may wrap onto a second line; numbers and times never do.
        table.add_column(h, justify="left" if left else "right", no_wrap=h not in ("tenant", "error"),
                         overflow="fold")  # fmt: skip
    return table


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def register(app: typer.Typer) -> None:
    @app.command()
    def status(tenant: Annotated[str | None, typer.Option(help="one tenant only")] = None) -> None:
        """Per tenant: connection health, last run, lag and open work.

        conn: the connection's status (needs_reauth: reconnect it); last: the last run's id and age;
        outcome: its status; lag: time since the last successful sync; review: open review items
        (`review list`); failed: writes the platform refused (`writes failed`)."""
        from contactsync.store.status import tenant_statuses

        with running_services():
            db.require_schema()  # a look must not change the database
            with db.session() as s:
                rows = tenant_statuses(s, tenant)
        now = utcnow()
        table = _table("tenant", "conn", "last", "outcome", "lag", "review", "failed")
        for r in rows:
            age = duration((now - r.last_run_started).total_seconds()) if r.last_run_started else ""
            last = f"#{r.last_run_id} {age} ago" if r.last_run_started else "-"
            table.add_row(
                r.tenant_id,
                r.connection if r.connection == ConnectionStatus.ACTIVE else f"[red]{r.connection}[/red]",
                last,
                r.last_run_status or "never",
                duration(r.lag_seconds),
                str(r.open_reviews),
                str(r.failed_writes) if not r.failed_writes else f"[red]{r.failed_writes}[/red]",
            )
        console.print(table)
        for r in rows:
            if r.connection != ConnectionStatus.ACTIVE and r.connection_reason:
                console.print(f"{r.tenant_id}: {r.connection_reason[:300]}", markup=False)

    @app.command()
    def runs(
        tenant: Annotated[str | None, typer.Option()] = None,
        limit: Annotated[int, typer.Option()] = 20,
        wide: Annotated[bool, typer.Option("--wide", help="every counter and the error")] = False,
    ) -> None:
        """Recent sync runs, newest first.

        started: UTC start time; took: duration (so far, for an active run); fetched: contacts read from the
        platform; linked: matched to app contacts; review: sent to a person; new: created on the platform;
        upd: updated on the platform; err: writes the platform refused; with --wide also parked: creates whose
        answer was lost, waiting for evidence (with err, why a run ended `partial`), app: app contacts updated,
        quar: records quarantined, confl: conflicting edits, calls: provider requests, back: times the walk went back
        over rows it had read (a cursor the platform refused, rows that moved under it)."""
        with running_services():
            db.require_schema()  # a look must not change the database
            with db.session() as s:
                query = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)
                if tenant:
                    query = query.where(SyncRun.tenant_id == tenant)
                rows = list(s.scalars(query))
        extra = ("parked", "app", "kind", "trigger", "quar", "confl", "calls", "back", "error") if wide else ()
        table = _table("run", "tenant", "status", "started", "took", "fetched", "linked", "review", "new", "upd",
                       "err", *extra)  # fmt: skip
        for run in rows:
            end = run.finished_at or utcnow()
            cells = [
                str(run.id), run.tenant_id, run.status, clock(run.started_at),
                duration((end - run.started_at).total_seconds()),
                *(str(v) for v in (run.fetched, run.linked, run.reviewed, run.created_remote, run.updated_remote,
                                   run.write_errors)),
            ]  # fmt: skip
            if wide:
                counts = (run.updated_app, run.quarantined, run.conflicts, run.api_calls, run.walk_restarts)
                cells += [str(run.parked), str(counts[0]), run.kind, run.trigger, *(str(c) for c in counts[1:]),
                          (run.error or "")[:200]]  # fmt: skip
            table.add_row(*cells)
        console.print(table)
        if not wide:  # why the runs that did not succeed ended as they did, in full, below the table
            for run in rows:
                if run.error:
                    console.print(f"run {run.id} {run.status}: {run.error}", markup=False, soft_wrap=True)

    @app.command()
    def metrics(
        port: Annotated[int, typer.Option()] = 9100,
        host: Annotated[str, typer.Option()] = "127.0.0.1",
    ) -> None:
        """Serve Prometheus metrics at /metrics: every local contactsync process's counters plus the database
        and queue gauges (open reviews, writes by state, lag per tenant, queue lengths)."""
        import uvicorn

        from contactsync.metrics.exposition import asgi_app

        with running_services():
            uvicorn.run(asgi_app(), host=host, port=port, log_level="warning")

    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def flower(
        ctx: typer.Context,
        port: Annotated[int, typer.Option()] = 5555,
        host: Annotated[str, typer.Option(help="listen address; anything but loopback needs basic auth")] = "127.0.0.1",
    ) -> None:
        """Flower (Celery's monitor) on the workers' broker, embedded or not. Basic auth comes from
        CONTACTSYNC_FLOWER_BASIC_AUTH (user:password[,user2:password2]); extra arguments go to Flower."""
        from contactsync.cli.processes import celery_command, run_child

        with running_services() as settings:
            env = dict(os.environ)
            auth = settings.flower_basic_auth
            if auth:
                env["FLOWER_BASIC_AUTH"] = auth  # in the environment, not argv: `ps` must not show the password
            elif not _loopback(host):
                console.print("[red]refusing to publish Flower without auth: set CONTACTSYNC_FLOWER_BASIC_AUTH[/red]")
                raise typer.Exit(2)
            else:
                # Flower 2 closes its API without auth; on loopback only this machine's users can reach it.
                env["FLOWER_UNAUTHENTICATED_API"] = "true"
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            cmd = celery_command("flower", f"--port={port}", f"--address={host}", "--persistent=False", *ctx.args)
            code = run_child(cmd, env)
        raise typer.Exit(code)
