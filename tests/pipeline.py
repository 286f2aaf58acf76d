"""Helpers the pipeline tests share: a tenant on the sandbox, waiting for runs, reading the platform back.

The `sandbox` and `workers` fixtures they go with are in `tests/conftest.py`.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from contactsync import db
from contactsync.api import create_app
from contactsync.contact import CanonicalContact
from contactsync.demo import split_companies
from contactsync.models import AppContact, Connection, Link, RemoteContact, SyncRun
from contactsync.models.base import utcnow
from contactsync.sandbox import serve_in_thread
from contactsync.sandbox.seed import companies
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.runs import cursor_of, start_run
from contactsync.store.tenants import connection_of, upsert_tenant
from contactsync.tasks.schedule import redrive_stale_runs, trigger_sync
from tests.api.conftest import make_key
from tests.conftest import Workers

OLD = datetime(2024, 1, 15, tzinfo=UTC)


def setup_tenant(
    sandbox: Any,
    size: int,
    seed: int,
    faults: dict[str, Any] | None = None,
    dialect: str = "merge",
    options: dict[str, Any] | None = None,
    extra_remote: list[CanonicalContact] | None = None,
    tenant_id: str = "t1",
    variant: dict[str, Any] | None = None,
    app_updated_at: datetime = OLD,
) -> tuple[Any, str]:
    split = split_companies(companies(seed, size))
    token = f"acct-{seed}"
    body = {
        "token": token,
        "seed": seed,
        "count": 0,
        "contacts": [c.model_dump(mode="json") for c in [*split.remote, *(extra_remote or [])]],
        "rate_limit_per_minute": 100_000,
        "faults": faults or {},
        "variant": variant or {},
    }
    httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=60).raise_for_status()
    with db.session() as s:
        # Merge's page size: Maesn's pages keep their default size (it has no `page_size` option).
        connect_tenant(
            s,
            sandbox,
            token,
            tenant_id=tenant_id,
            dialect=dialect,
            options={**({"page_size": 50} if dialect == "merge" else {}), **(options or {})},
        )
        upsert_app_contacts(s, tenant_id, split.app, updated_at=app_updated_at)
    return split, token


def connect_tenant(
    s: Session,
    sandbox: Any,
    token: str,
    *,
    tenant_id: str = "t1",
    dialect: str = "merge",
    options: dict[str, Any] | None = None,
) -> None:
    """The tenant, connected to the sandbox account `token` (no rate limit unless `options` set one)."""
    upsert_tenant(
        s,
        tenant_id,
        name="Tenant",
        dialect=dialect,
        base_url=f"{sandbox.url}/api/accounting/v1" if dialect == "merge" else sandbox.url,
        api_key="k",
        account_token=token,
        options={"rate_limit_per_minute": 100_000, **(options or {})},
    )


def writing_run(s: Session, tenant_id: str = "t1") -> tuple[Connection, SyncRun]:
    """A full run of the tenant in its writing stage, its connection's full walk dated now (planning may create)."""
    conn = connection_of(s, tenant_id)
    assert conn is not None
    run = start_run(s, conn, full=True)
    assert run is not None
    run.status = "writing"
    cursor_of(s, conn).last_full_at = utcnow()
    return conn, run


def wait_run(run_id: int, workers: Workers, timeout: float = 120, redrive: bool = False) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            if run.finished_at is not None:
                return run
        if redrive:
            redrive_stale_runs(2)
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish; worker logs:\n{workers.logs()}")


def sync_until_settled(first_run: int, workers: Workers, *, max_runs: int = 8, redrive: bool = False) -> list[SyncRun]:
    """Wait for a run, then start more while creates wait parked (each later run re-checks them)."""
    runs = [wait_run(first_run, workers, timeout=180, redrive=redrive)]
    while runs[-1].parked and runs[-1].status == "partial" and len(runs) < max_runs:
        time.sleep(0.5)
        run_id = trigger_sync("t1")
        assert run_id is not None
        runs.append(wait_run(run_id, workers, timeout=180, redrive=redrive))
    return runs


def matched_pairs(count: int) -> list[tuple[str, str]]:
    """(remote id, app id) of the first `count` pairs the matcher linked (not ones the writer created)."""
    with db.session() as s:
        rows = s.execute(
            select(RemoteContact.remote_id, AppContact.app_id)
            .join(Link, Link.remote_contact_id == RemoteContact.id)
            .join(AppContact, AppContact.id == Link.app_contact_id)
            .where(Link.method != "created")
            .order_by(Link.id)
            .limit(count)
        ).all()
    assert len(rows) == count, f"{len(rows)} matched pairs, not {count}"
    return [(str(remote_id), str(app_id)) for remote_id, app_id in rows]


def a_matched_pair() -> tuple[str, str]:
    """(remote id, app id) of a pair the matcher linked (not one the writer created)."""
    return matched_pairs(1)[0]


def platform_contacts(sandbox: Any, token: str) -> list[dict[str, Any]]:
    rows = httpx.get(f"{sandbox.url}/_sandbox/accounts/{token}/contacts", timeout=30).json()
    return [r for r in rows if not r.get("deleted")]


def assert_each_app_contact_once(split: Any, rows: list[dict[str, Any]]) -> None:
    names = Counter(r["name"].casefold() for r in rows)
    remote_names = {c.name.casefold() for c in split.remote}
    for _app_id, contact in split.app:
        key = contact.name.casefold()
        expected = 1 if key not in remote_names else Counter(c.name.casefold() for c in split.remote)[key]
        assert names[key] == expected, f"{contact.name!r} is on the platform {names[key]} times"


def admin(sandbox: Any, token: str, method: str, path: str = "", **body: Any) -> Any:
    response = httpx.request(method, f"{sandbox.url}/_sandbox/accounts/{token}{path}", json=body or None, timeout=30)
    response.raise_for_status()
    return response.json()


def full_sync(workers: Workers, full: bool = True) -> SyncRun:
    run_id = trigger_sync("t1", full=full)
    assert run_id is not None
    return wait_run(run_id, workers)


def autovacuum_off(tables: tuple[str, ...]) -> None:
    """Autovacuum leaves these tables of the test's database alone, so any ANALYZE they see is the code's own
    (on servers where autovacuum runs, it could otherwise come first and leave nothing to analyze)."""
    with db.session() as s:
        for table in tables:
            s.execute(text(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)'))


def analyses(table: str) -> tuple[int, float]:
    """(ANALYZE statements the table has seen, never autovacuum's; the rows the planner believes it holds, -1
    before any analysis)."""
    with db.session() as s:
        count, rows = s.execute(
            text(
                "SELECT s.analyze_count, c.reltuples FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
                " WHERE s.relname = :t"
            ),
            {"t": table},
        ).one()
    return int(count), float(rows)


def kill_worker(victim: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and its pool processes at once, as the kernel's OOM killer or a lost node would."""
    for child in psutil.Process(victim.pid).children(recursive=True):
        child.send_signal(signal.SIGKILL)
    victim.send_signal(signal.SIGKILL)
    victim.wait()


def contact_view(app_id: str, tenant_id: str = "t1") -> dict[str, Any]:
    """The app's API's view of one of its contacts (`GET /v1/tenants/{tenant}/contacts/{id}`), served for the call."""
    with serve_in_thread(create_app(), name="api", lifespan="off") as api:
        answer = httpx.get(
            f"{api.url}/v1/tenants/{tenant_id}/contacts/{app_id}",
            headers={"Authorization": f"Bearer {make_key(None)}"},
            timeout=30,
        )
    answer.raise_for_status()
    view: dict[str, Any] = answer.json()
    return view
