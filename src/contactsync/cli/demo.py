"""`contactsync demo`: a full sync of three demo tenants through real servers, workers and beat.

Nothing is faked on the way: the tenants' books live in the sandbox provider (an HTTP server speaking Merge's
dialect), the runs are started by the beat's schedule tick, and worker processes fetch, reconcile and write over
HTTP, PostgreSQL and Redis exactly as in production. The sandbox keeps its state under the data dir, so a second
demo run meets the same books and must create nothing new.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select, update

from contactsync import db
from contactsync.cli.processes import beat_command, spawn, stop, worker_command, worker_queues
from contactsync.cli.progress import follow_runs
from contactsync.demo import APP_EDITED_AT, DEMO_TENANTS, EDITED_PHONE_PREFIX, DemoTenant, split_companies
from contactsync.embedded import running_services
from contactsync.models import AppContact, SyncRun, Tenant
from contactsync.models.base import utcnow
from contactsync.states import ReviewStatus, RunStatus

console = Console()
if not console.is_terminal:
    # Piped or captured output (CI logs) gets the whole table rather than rich's 80-column default.
    console = Console(width=160)
DEMO_RATE_PER_MINUTE = 6000


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        workers: Annotated[int, typer.Option(help="worker processes to start")] = 2,
        timeout: Annotated[float, typer.Option(help="seconds to wait for the runs")] = 150.0,
        prepare_only: Annotated[
            str | None,
            typer.Option(
                "--prepare-only",
                metavar="SANDBOX_URL",
                help="only create the demo tenants and their books in the sandbox at this URL (one that the "
                "workers reach too) and exit: running workers and beat sync them (docker compose)",
            ),
        ] = None,
        serve: Annotated[
            bool, typer.Option("--serve", help="then keep serving the API and the review page until stopped")
        ] = False,
        port: Annotated[int, typer.Option(help="port for --serve")] = 8080,
        host: Annotated[str, typer.Option(help="address for --serve")] = "127.0.0.1",
    ) -> None:
        """Sync three demo tenants against the built-in sandbox provider and print a summary; with --serve, go on
        serving the API and the review page (its URL and an admin key are printed) with the workers running."""
        from contactsync.sandbox import new_state, run_in_thread
        from contactsync.sandbox.persist import load_state, save_state

        if prepare_only:
            with running_services():
                db.upgrade()
                for tenant in DEMO_TENANTS:
                    _prepare_tenant(tenant, prepare_only.rstrip("/"))
                console.print(f"demo tenants ready: {', '.join(t.tenant_id for t in DEMO_TENANTS)}")
            return
        with running_services(own_key=True) as settings:
            db.upgrade()
            data_dir = settings.data_dir
            state_file = data_dir / "sandbox-state.json"
            state = load_state(state_file, new_state()) if state_file.exists() else new_state()
            with run_in_thread(state=state) as sandbox:
                for tenant in DEMO_TENANTS:
                    _prepare_tenant(tenant, sandbox.url)
                before = _platform_counts(sandbox.url)
                started = utcnow()
                with db.session() as s:
                    s.execute(
                        update(Tenant)
                        .where(Tenant.id.in_([t.tenant_id for t in DEMO_TENANTS]))
                        .values(next_sync_at=started)
                    )
                procs = _start_processes(data_dir, workers)
                try:
                    runs = follow_runs(console, before, started, timeout)
                    ok = _print_summary(runs, sandbox.url, before)
                    if serve:
                        _serve_review(host, port)
                finally:
                    stop(procs)
                    save_state(state, state_file)
        raise typer.Exit(0 if ok else 1)


def _serve_review(host: str, port: int) -> None:
    """Serve the API with the workers still running, so decisions made on the review page are acted on."""
    import uvicorn
    from sqlalchemy import func

    from contactsync.api import create_app
    from contactsync.api.sessions import issue_session
    from contactsync.models import ReviewItem
    from contactsync.store.apikeys import create_key

    with db.session() as s:
        _, key = create_key(s, None, "demo")
        busiest = s.execute(
            select(ReviewItem.tenant_id, func.count())
            .where(ReviewItem.status == ReviewStatus.OPEN)
            .group_by(ReviewItem.tenant_id)
            .order_by(func.count().desc())
            .limit(1)
        ).first()
    tenant_id = busiest[0] if busiest else DEMO_TENANTS[0].tenant_id
    open_items = busiest[1] if busiest else 0
    url = f"http://{host}:{port}/review?session={issue_session(tenant_id, 'demo user', 86400)}"
    console.print(f"\nreview page for {tenant_id} ({open_items} open items, link valid for a day):")
    typer.echo(url)  # unwrapped, to copy whole
    console.print(f"API docs: http://{host}:{port}/docs — stop with Ctrl-C. Admin API key:")
    typer.echo(key)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")


def _prepare_tenant(tenant: DemoTenant, sandbox_url: str) -> None:
    """Create the tenant's books in the sandbox and its contacts in the app, unless an earlier run did."""
    from contactsync.sandbox.seed import companies
    from contactsync.store.contacts import upsert_app_contacts
    from contactsync.store.tenants import upsert_tenant

    split = split_companies(companies(tenant.seed, tenant.size))
    with httpx.Client(base_url=sandbox_url, timeout=60) as client:
        exists = client.get(f"/_sandbox/accounts/{tenant.account_token}/stats").status_code == 200
        if not exists:
            body = {
                "token": tenant.account_token,
                "seed": tenant.seed,
                "count": 0,
                "contacts": [c.model_dump(mode="json") for c in split.remote],
                "rate_limit_per_minute": DEMO_RATE_PER_MINUTE,
            }
            client.post("/_sandbox/accounts", json=body).raise_for_status()
    with db.session() as s:
        upsert_tenant(
            s,
            tenant.tenant_id,
            name=tenant.name,
            dialect="merge",
            base_url=f"{sandbox_url}/api/accounting/v1",
            api_key="demo-api-key",
            account_token=tenant.account_token,
            # The sandbox speaks plain http, also where it is not on loopback (another container).
            options={"rate_limit_per_minute": DEMO_RATE_PER_MINUTE, "page_size": 100, "allow_insecure_http": True},
        )
        has_contacts = s.scalar(select(AppContact.id).where(AppContact.tenant_id == tenant.tenant_id).limit(1))
        if has_contacts is not None:
            return  # the app's contacts are its own after the first run: a sync may have updated them since
        today = {app_id for app_id, c in split.app if c.phones and c.phones[0].number.startswith(EDITED_PHONE_PREFIX)}
        upsert_app_contacts(
            s, tenant.tenant_id, [(a, c) for a, c in split.app if a not in today], updated_at=APP_EDITED_AT
        )
        # Edited "today" by the app: its own clock says so, which is what lets these edits win on the first link.
        upsert_app_contacts(s, tenant.tenant_id, [(a, c) for a, c in split.app if a in today], updated_at=utcnow())


def _start_processes(data_dir: Path, workers: int) -> list[Any]:
    env = dict(os.environ)
    env.setdefault("CONTACTSYNC_SCHEDULE_TICK_SECONDS", "1")
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = [
        spawn(worker_command(worker_queues(i, workers), f"demo{i}", 2), logs / f"worker{i}.log", env)
        for i in range(workers)
    ]
    procs.append(spawn(beat_command(data_dir / "celerybeat-schedule"), logs / "beat.log", env))
    return procs


def _platform_counts(sandbox_url: str) -> dict[str, int]:
    with httpx.Client(base_url=sandbox_url, timeout=30) as client:
        return {
            t.tenant_id: int(client.get(f"/_sandbox/accounts/{t.account_token}/stats").json()["contacts"])
            for t in DEMO_TENANTS
        }


def _print_summary(runs: dict[str, SyncRun | None], sandbox_url: str, before: dict[str, int]) -> bool:
    """One row per tenant; the run only counts as good when the platform grew by exactly what was created."""
    table = Table(title="contactsync demo: one sync cycle per tenant")
    for col in (
        "tenant",
        "status",
        "fetched",
        "linked",
        "review",
        "created remotely",
        "updated",
        "API calls",
        "seconds",
        "platform contacts",
    ):
        table.add_column(col, justify="left" if col in ("tenant", "status") else "right")
    ok = True
    after = _platform_counts(sandbox_url)
    for tenant in DEMO_TENANTS:
        run = runs.get(tenant.tenant_id)
        counts = f"{before[tenant.tenant_id]} -> {after[tenant.tenant_id]}"
        if run is None or run.finished_at is None:
            ok = False
            table.add_row(tenant.tenant_id, "timed out", *["-"] * 7, counts)
            continue
        ok = (
            ok
            and run.status == RunStatus.SUCCEEDED
            and after[tenant.tenant_id] == before[tenant.tenant_id] + run.created_remote
        )
        table.add_row(
            tenant.tenant_id,
            run.status,
            str(run.fetched),
            str(run.linked),
            str(run.reviewed),
            str(run.created_remote),
            f"{run.updated_remote} remote / {run.updated_app} app",
            str(run.api_calls),
            f"{(run.finished_at - run.started_at).total_seconds():.1f}",
            counts,
        )
    console.print(table)
    console.print(
        "fetched: contacts read from the tenant's platform; linked: matched to one of the app's contacts; "
        "review: unsure matches left to a person; created remotely: app contacts the platform did not have; "
        "updated: fields taken across (remote = written to the platform, app = taken into the app); API calls: "
        "requests sent; platform contacts: the sandbox's count before -> after (it grows by exactly the creates)."
    )
    console.print(
        "Next: `contactsync review list demo-logistics` shows the unsure matches (decide with `review link` / "
        "`review reject`); `contactsync runs` and `contactsync status` show runs and health; run the demo again "
        "and it creates nothing. The workers' logs are under the data dir's logs/."
    )
    return ok
