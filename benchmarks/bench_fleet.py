"""Fleet benchmark: many small tenants (and optionally one big one) started by one schedule tick.

It creates `--tenants` tenants with 100–500 contacts on each side (`--min-contacts`/`--max-contacts`, drawn per
tenant from `--seed`, in steps of 50), optionally tenant t0 with `--big N` contacts, all due now. The books come
from 4 seeds, so many tenants share a book, but each has its own sandbox account and rows: a book's first tenant
is seeded through the app's import path, the others get a copy of its app rows in SQL (importing 1,000 tenants
one contact at a time takes most of an hour on this machine). With `--workers W`
Celery workers consuming `--shards S` tenant queues, it runs the schedule tick's `start_due_runs` once, as the
beat does, and then watches the workers for at most `--sync-seconds`.

The last line of output is one JSON object:

    tick_s, tick_statements, tick_sql_s, started_first_tick   the one tick: its time, the SQL statements it sent
                         and their time (the rest is sending the fetch messages, and Python), runs started
    due                  tenants that were due (every tenant)
    shard_runs           runs started per shard queue
    fetch_wait_s         per run, from the run's start to its fetch task starting on a worker: p50/p95/max and
                         count, for runs on the big tenant's shard and on other shards (`all` without --big)
    fetch_not_started    runs whose fetch had not started when the window closed (their wait is not in the figures)
    finished, runs_by_status, sync_window_s, all_finished   what the window saw; when not `all_finished`, the
                         figures describe a partial sync, and duplicates/lost cover only the tenants that finished
    duplicates, lost, checked_tenants   as in bench_pipeline, for each tenant whose run ended
    peak_rss_mb          the largest single worker process (main or pool) during the window, as in bench_pipeline:
                         a worker serves every tenant of its shards, so what it keeps per tenant shows here

    python -m benchmarks.bench_fleet --tenants 1000 --workers 2 --shards 8 --sync-seconds 300
    python -m benchmarks.bench_fleet --tenants 1000 --big 20000 --workers 2 --shards 8 --sync-seconds 300

Servers: DATABASE_URL / REDIS_URL when set, else embedded ones (see bench_pipeline).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from benchmarks.bench_pipeline import say, seed
from benchmarks.harness import (
    TenantData,
    Workers,
    benchmark_environment,
    print_result_on_servers,
    tenant_data,
)
from benchmarks.measures import RssSampler, TaskTimes, p95
from benchmarks.platform_check import check_platforms
from contactsync import db
from contactsync.cli.processes import spawn, stop
from contactsync.models import AppContact, ContactKey, SyncRun
from contactsync.redis_keys import tenant_queue
from contactsync.sandbox.admin_client import SandboxAdmin
from contactsync.tasks.schedule import start_due_runs

BOOK_SEEDS = 4


@contextlib.contextmanager
def sandbox_process(log: Path) -> Iterator[str]:
    """The sandbox in a process of its own: in a thread of this one it would share the GIL with the tick being
    timed while a thousand fetches hit it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = f"from contactsync.sandbox.server import serve; serve(port={port}, log_level='warning')"
    proc = spawn([sys.executable, "-c", code], log)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop([proc])


def fleet_data(args: argparse.Namespace) -> list[TenantData]:
    """Every tenant's books; a (seed, size) pair is generated once (generating 1,000 books takes minutes)."""
    rng = random.Random(args.seed)
    cache: dict[tuple[int, int], TenantData] = {}
    out = []
    for t in range(args.tenants):
        if t == 0 and args.big:
            out.append(tenant_data(999, args.big, args.overlap))
            continue
        size = rng.randrange(args.min_contacts, args.max_contacts + 1, 50)
        key = (1000 + rng.randrange(BOOK_SEEDS), size)
        if key not in cache:
            cache[key] = tenant_data(key[0], size, args.overlap)
        out.append(cache[key])
    return out


def seed_fleet(admin: SandboxAdmin, sandbox_url: str, datas: list[TenantData], page_size: int) -> None:
    """Every tenant's account and app contacts; a book's first tenant goes through `bench_pipeline.seed`."""
    seeding_args = argparse.Namespace(rate=0, page_size=page_size, webhooks=False, dialects=("merge",))
    first: dict[int, str] = {}
    for t, data in enumerate(datas):
        if id(data) not in first:
            seed(admin, sandbox_url, t, data, seeding_args)
            first[id(data)] = f"t{t}"
            continue
        empty = TenantData(remote=data.remote, app=[], both=data.both)
        seed(admin, sandbox_url, t, empty, seeding_args)
        with db.session() as s:
            copy_app_rows(s, first[id(data)], f"t{t}")


def copy_app_rows(s: Session, source: str, target: str) -> None:
    """The source tenant's app contacts and their matcher keys, as the target's (the same rows the import path
    writes, keyed again by app id)."""
    contacts, keys = AppContact.__table__, ContactKey.__table__
    cols = [c.name for c in contacts.columns if c.name not in ("id", "tenant_id")]
    s.execute(
        text(
            f"INSERT INTO app_contacts (tenant_id, {', '.join(cols)}) "
            f"SELECT :target, {', '.join(cols)} FROM app_contacts WHERE tenant_id = :source"
        ),
        {"source": source, "target": target},
    )
    key_cols = [c.name for c in keys.columns if c.name not in ("tenant_id", "app_contact_id")]
    s.execute(
        text(
            f"INSERT INTO contact_keys (tenant_id, app_contact_id, {', '.join(key_cols)}) "
            f"SELECT :target, n.id, {', '.join('k.' + c for c in key_cols)} FROM contact_keys k "
            "JOIN app_contacts o ON o.id = k.app_contact_id "
            "JOIN app_contacts n ON n.tenant_id = :target AND n.app_id = o.app_id "
            "WHERE k.tenant_id = :source"
        ),
        {"source": source, "target": target},
    )


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50": round(statistics.median(values), 3),
        "p95": round(p95(values) or 0.0, 3),
        "max": round(max(values), 3),
    }


def timed_tick() -> tuple[float, int, float, int]:
    """One tick's `start_due_runs`: (seconds, SQL statements sent, seconds spent in them, runs started). The rest
    of the tick is sending the fetch messages (and Python)."""
    statements = 0
    in_sql = 0.0
    sent_at = 0.0

    def before(*_: Any) -> None:
        nonlocal statements, sent_at
        statements += 1
        sent_at = time.monotonic()

    def after(*_: Any) -> None:
        nonlocal in_sql
        in_sql += time.monotonic() - sent_at

    engine = db.engine()
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        began = time.monotonic()
        started = start_due_runs()
        took = time.monotonic() - began
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    return took, statements, in_sql, started


def watch(args: argparse.Namespace, until: float) -> list[SyncRun]:
    """Poll the runs until every one has ended or the window closes; the runs as last seen."""
    while True:
        with db.session() as s:
            runs = list(s.scalars(select(SyncRun)))
            s.expunge_all()
        if all(r.finished_at is not None for r in runs) or time.monotonic() >= until:
            return runs
        time.sleep(1.0)


def run(args: argparse.Namespace, server_db: str, redis_url: str, tmp: Path) -> dict[str, Any]:
    settings = {"CONTACTSYNC_QUEUE_SHARDS": str(args.shards), "CONTACTSYNC_SCHEDULE_BATCH_SIZE": str(args.batch)}
    result: dict[str, Any] = {
        "tenants": args.tenants, "contacts": f"{args.min_contacts}-{args.max_contacts}", "big": args.big,
        "workers": f"{args.workers}x{args.concurrency}", "shards": args.shards, "batch": args.batch,
    }  # fmt: skip
    workers: Workers | None = None
    with (
        benchmark_environment(server_db, redis_url, "fleet", settings) as env,
        sandbox_process(tmp / "sandbox.log") as sandbox_url,
    ):
        try:
            admin = SandboxAdmin(sandbox_url)
            began = time.monotonic()
            datas = fleet_data(args)
            seed_fleet(admin, sandbox_url, datas, args.page_size)
            result["seed_s"] = round(time.monotonic() - began, 1)
            result["contacts_per_side"] = sum(len(d.remote) for d in datas)
            say(f"seeded {args.tenants} tenants, {result['contacts_per_side']} contacts per side, {result['seed_s']}s")
            workers = Workers(env, tmp, args.workers, args.concurrency)
            workers.start_all()
            rss = RssSampler(workers)
            rss.start()
            events = TaskTimes(starts=frozenset({"contactsync.fetch"}))
            events.start()
            events.ready.wait(10)
            window_began = time.monotonic()
            tick_s, statements, sql_s, started = timed_tick()
            result.update(
                due=args.tenants, tick_s=round(tick_s, 3), tick_statements=statements, tick_sql_s=round(sql_s, 3),
                started_first_tick=started,
            )  # fmt: skip
            say(f"tick: {started} runs started in {tick_s:.3f}s with {statements} statements taking {sql_s:.3f}s")
            runs = watch(args, window_began + args.sync_seconds)
            result["sync_window_s"] = round(time.monotonic() - window_began, 1)
            time.sleep(1.0)  # the last task-started events still on their way
            events.stop()
            result["peak_rss_mb"] = rss.stop()
            big_shard = tenant_queue("t0", args.shards) if args.big else None
            result["big_shard"] = big_shard
            result["shard_runs"] = dict(sorted(Counter(tenant_queue(r.tenant_id, args.shards) for r in runs).items()))
            waits: dict[str, list[float]] = {"big_shard": [], "other_shards": []} if args.big else {"all": []}
            not_started = 0
            for r in runs:
                if args.big and r.tenant_id == "t0":
                    continue
                began_fetch = events.started.get(("contactsync.fetch", r.id))
                if began_fetch is None:
                    not_started += 1
                    continue
                group = (
                    "all"
                    if not args.big
                    else "big_shard"
                    if tenant_queue(r.tenant_id, args.shards) == big_shard
                    else "other_shards"
                )
                waits[group].append(began_fetch - r.started_at.timestamp())
            result["fetch_wait_s"] = {group: summary(values) for group, values in waits.items()}
            result["fetch_not_started"] = not_started
            result["runs_by_status"] = dict(Counter(r.status for r in runs))
            result["finished"] = sum(1 for r in runs if r.finished_at is not None)
            result["all_finished"] = result["finished"] == len(runs)
            result["fetched"] = sum(r.fetched for r in runs)
            if args.big:
                big = next(r for r in runs if r.tenant_id == "t0")
                result["big_run"] = {"status": big.status, "fetched": big.fetched}
            say("window:", json.dumps(result))
            workers.stop()
            workers = None
            if not args.no_check:
                # Duplicates and disagreeing pairs, as bench_pipeline counts them, on every tenant whose run ended.
                result.update(check_platforms(datas, {r.tenant_id for r in runs if r.finished_at is not None}))
        finally:
            if workers is not None:
                workers.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--min-contacts", type=int, default=100)
    parser.add_argument("--max-contacts", type=int, default=500)
    parser.add_argument("--big", type=int, default=0, help="contacts of one big tenant (t0); 0: none")
    parser.add_argument("--overlap", type=float, default=0.5, help="share of each tenant's contacts on both sides")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--shards", type=int, default=8, help="CONTACTSYNC_QUEUE_SHARDS")
    parser.add_argument("--batch", type=int, default=500, help="CONTACTSYNC_SCHEDULE_BATCH_SIZE")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--sync-seconds", type=float, default=300, help="watch the workers this long at most")
    parser.add_argument("--no-check", action="store_true", help="skip reading every finished tenant's platform")
    parser.add_argument("--seed", type=int, default=1)
    print_result_on_servers(run, parser.parse_args())


if __name__ == "__main__":
    main()
