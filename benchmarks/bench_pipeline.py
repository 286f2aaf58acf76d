"""Pipeline benchmark: whole syncs through real workers, PostgreSQL, Redis and the sandbox, at a rate limit.

For each scenario it creates tenants whose books (in the sandbox) and app contacts overlap like the demo's,
runs one full sync of every tenant through `--workers` Celery worker processes, and reports wall time, API
calls, the API calls per second achieved against the limit, and how many 429s the sandbox had to send (with the
shared rate-limit bucket working, none). It also checks the platform afterwards: each tenant's books must have
grown by exactly the number of contacts created.

    python benchmarks/bench_pipeline.py                       # default scenarios
    python benchmarks/bench_pipeline.py --tenants 4 --size 2000 --rate 600 --workers 2

Servers: DATABASE_URL / REDIS_URL when set (the benchmark creates and drops its own database there and uses its
own Redis key prefix), else embedded ones under a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from contactsync import db
from contactsync.cli.processes import spawn, stop, worker_command, worker_queues
from contactsync.crypto import new_key
from contactsync.demo import APP_EDITED_AT, split_companies
from contactsync.models import SyncRun
from contactsync.sandbox import run_in_thread
from contactsync.sandbox.seed import companies
from contactsync.services import EmbeddedPostgres, EmbeddedRedis, refresh_process_settings
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.schedule import trigger_sync


def _servers(tmp: Path) -> tuple[str, str, list[Any]]:
    owned: list[Any] = []
    db_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if not db_url:
        pg = EmbeddedPostgres(tmp / "pg")
        db_url = pg.start()
        owned.append(pg)
    if not redis_url:
        rd = EmbeddedRedis(tmp / "redis")
        rd.start()
        redis_url = rd.url
        owned.append(rd)
    return db_url, redis_url, owned


def _fresh_database(server_url: str) -> str:
    name = f"cs_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(server_url).set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(drivername="postgresql+psycopg", database=name).render_as_string(False)


def _drop_database(url: str) -> None:
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


def run_scenario(
    tenants: int, size: int, rate: int, workers: int, concurrency: int, tmp: Path, server_db: str, redis_url: str
) -> dict[str, Any]:
    database = _fresh_database(server_db)
    env = {
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "CONTACTSYNC_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
        "CONTACTSYNC_SECRET_KEY": new_key(),
        "CONTACTSYNC_QUEUE_SHARDS": str(max(workers, tenants)),
        "CONTACTSYNC_LOG_LEVEL": "INFO",  # workers report "ready." at INFO
    }
    saved = dict(os.environ)
    os.environ.update(env)
    refresh_process_settings()
    procs = []
    try:
        db.upgrade()
        with run_in_thread() as sandbox:
            expected_creates = 0
            for t in range(tenants):
                split = split_companies(companies(1000 + t, size))
                expected_creates += len(split.app) - split.both
                token = f"bench-{t}"
                body = {
                    "token": token,
                    "count": 0,
                    "contacts": [c.model_dump(mode="json") for c in split.remote],
                    "rate_limit_per_minute": rate,
                }
                httpx.post(f"{sandbox.url}/_sandbox/accounts", json=body, timeout=120).raise_for_status()
                with db.session() as s:
                    upsert_tenant(
                        s, f"t{t}", name=f"Tenant {t}", dialect="merge",
                        base_url=f"{sandbox.url}/api/accounting/v1", api_key="k", account_token=token,
                        options={"rate_limit_per_minute": rate, "page_size": 100},
                    )  # fmt: skip
                    upsert_app_contacts(s, f"t{t}", split.app, updated_at=APP_EDITED_AT)
            log_dir = tmp / "logs"
            log_dir.mkdir(exist_ok=True)
            child_env = {**os.environ, **env}
            procs = [
                spawn(
                    worker_command(worker_queues(i, workers), f"bench{i}", concurrency),
                    log_dir / f"w{i}.log",
                    child_env,
                )
                for i in range(workers)
            ]
            deadline = time.monotonic() + 60
            while not all((log_dir / f"w{i}.log").exists() and "ready." in (log_dir / f"w{i}.log").read_text()
                          for i in range(workers)):  # fmt: skip
                if time.monotonic() > deadline:
                    logs = "\n".join(p.read_text()[-2000:] for p in log_dir.glob("w*.log"))
                    raise RuntimeError(f"workers did not start:\n{logs}")
                time.sleep(0.2)
            started = time.monotonic()
            run_ids = [trigger_sync(f"t{t}", full=True) for t in range(tenants)]
            while True:
                with db.session() as s:
                    runs = list(s.scalars(select(SyncRun).where(SyncRun.id.in_(run_ids))))
                if all(r.finished_at is not None for r in runs):
                    break
                time.sleep(0.25)
            wall = time.monotonic() - started
            stats = [httpx.get(f"{sandbox.url}/_sandbox/accounts/bench-{t}/stats").json() for t in range(tenants)]
    finally:
        stop(procs)
        os.environ.clear()
        os.environ.update(saved)
        refresh_process_settings()
        _drop_database(database)
    calls = sum(r.api_calls for r in runs)
    created = sum(r.created_remote for r in runs)
    return {
        "tenants": tenants,
        "size": size,
        "rate_per_min": rate,
        "workers": f"{workers}x{concurrency}",
        "status": ",".join(sorted({r.status for r in runs})),
        "fetched": sum(r.fetched for r in runs),
        "linked": sum(r.linked for r in runs),
        "reviewed": sum(r.reviewed for r in runs),
        "created": created,
        "expected_created": expected_creates,
        "updated": sum(r.updated_remote for r in runs),
        "api_calls": calls,
        "seconds": round(wall, 1),
        "calls_per_s": round(calls / wall, 1),
        "limit_calls_per_s": round(rate * tenants / 60, 1),
        "429s": sum(int(s["rate_limited"]) for s in stats),
        "platform_ok": all(
            int(s["contacts"]) == len(split_companies(companies(1000 + t, size)).remote) + r.created_remote
            for t, (s, r) in enumerate(zip(stats, sorted(runs, key=lambda r: r.tenant_id), strict=True))
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int)
    parser.add_argument("--size", type=int)
    parser.add_argument("--rate", type=int, help="requests per minute per tenant (platform limit)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    if args.tenants and args.size and args.rate:
        scenarios = [(args.tenants, args.size, args.rate)]
    else:
        # Unthrottled throughput; then Merge's top plan (600/min) and Xero's per-tenant limit (60/min), with more
        # calls than one minute's budget so the limit, not the burst, decides.
        scenarios = [(1, 3000, 100_000), (4, 1000, 100_000), (2, 3000, 600), (2, 300, 60)]
    print(
        "| tenants | contacts each | limit/min/tenant | workers | status | fetched | linked | review | created "
        "(app-only) | updated remote | API calls | seconds | calls/s | limit calls/s | 429s | platform exact |"
    )
    print("|" + "---|" * 16)
    with tempfile.TemporaryDirectory() as servers_dir:
        server_db, redis_url, owned = _servers(Path(servers_dir))
        try:
            for tenants, size, rate in scenarios:
                with tempfile.TemporaryDirectory() as tmp:
                    r = run_scenario(
                        tenants, size, rate, args.workers, args.concurrency, Path(tmp), server_db, redis_url
                    )
                _print_row(r)
        finally:
            for server in owned:
                server.stop()


def _print_row(r: dict[str, Any]) -> None:
    print(
        f"| {r['tenants']} | {r['size']} | {r['rate_per_min']} | {r['workers']} | {r['status']} | {r['fetched']} "
        f"| {r['linked']} | {r['reviewed']} | {r['created']} ({r['expected_created']}) | {r['updated']} "
        f"| {r['api_calls']} | {r['seconds']} | {r['calls_per_s']} | {r['limit_calls_per_s']} | {r['429s']} "
        f"| {r['platform_ok']} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
