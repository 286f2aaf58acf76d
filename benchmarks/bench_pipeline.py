"""Pipeline benchmark: whole syncs through real workers, PostgreSQL, Redis and the sandbox, at a rate limit.

It creates `--tenants` tenants with `--contacts` contacts on each side (`--overlap` of them the same companies,
the app's copies spelled a little differently), runs one full sync of every tenant through `--workers` Celery
worker processes, and measures it. With `--changed-fraction F` it then edits that fraction of the linked pairs
on each side (different pairs on each side) and times the next, incremental, run. With `--webhooks` it then
edits platform contacts one at a time and measures how long each edit takes to start a run through the
webhook receiver. Afterwards it reads every platform back through the tenant's own provider and checks it.

The last line of output is one JSON object:

    wall_s, provider_calls, lower_bound_s, utilization, self_429   the full sync; calls as the platform counted
        them, `lower_bound_s` = the busiest tenant's calls / its rate (0 when unthrottled); utilization =
        lower_bound_s / wall_s (above 1 when a run fits inside one minute's budget of calls)
    duplicates       platform contacts beyond one per company (by name, after all runs)
    lost             linked pairs whose app and platform sides disagree in a synced field (after all runs)
    identity_guarded linked pairs that differ only in name or tax id where contactsync must not write the
        platform's identity (a link by score alone, or a pair in review): by rule, not lost; counted apart
    contacts_per_s   (contacts fetched + writes done) / wall_s
    write_phase_s    the longest run's planning and writing: from its ledger entries' planning to its end
    cpu_s            CPU seconds the phase cost: worker processes, PostgreSQL backends of the benchmark's database,
        and this process (the benchmark and the sandbox, which serves the platform's side); unlike wall_s,
        these hardly depend on what else the machine runs
    peak_rss_mb      the largest single worker process (main or pool), sampled four times a second
    reconcile_page_s reconcile task time of page 10 and page 900 (or the last page), when there are pages enough:
        the page's reconcile alone (the run's advance, with the model's refit, is a task of its own)
    stages           the full sync's tasks by name (count, summed runtime, first start and last end from the
        runs' start): how long the walk and its reconcile took before the first write, for instance
    incremental      the same measures for the incremental run, and its share of the full sync's calls and time
    later_incremental  with --incremental-rounds N: the next N-1 rounds of edits and incremental runs, each's
        calls, time and shares (the first incremental run also re-reads the contacts the full sync created)
    webhook_to_run_p95_s   with --webhooks
    timeline         with a rate: each tenant's provider calls per `--timeline-step` seconds of the full sync, as
        the platform counted them (where the bucket sat idle, and which tenant waited behind which)

    python -m benchmarks.bench_pipeline --tenants 2 --contacts 5000 --rate 600 --workers 2
    python -m benchmarks.bench_pipeline --tenants 4 --contacts 5000 --rate 0 --workers 2 --changed-fraction 0.01
    python -m benchmarks.bench_pipeline --tenants 1 --contacts 2000 --rate 0 --profile prof   # cProfile
    python -m benchmarks.bench_pipeline --tenants 1 --contacts 5000 --rate 0 --workers 1 --changed-fraction 0.01 \
        --profile-incremental prof   # cProfile of the incremental run alone
    python -m benchmarks.bench_pipeline --tenants 2 --contacts 5000 --rate 600 --workers 2 --logs logs   # keep logs
    python -m benchmarks.bench_pipeline --tenants 2 --contacts 2000 --rate 0 --dialects maesn,maesn-split   # Maesn

Servers: DATABASE_URL / REDIS_URL when set (the benchmark creates and drops its own database there and uses its
own Redis key prefix), else embedded ones under a temporary directory. `--rate 0` means no platform limit.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from benchmarks.harness import (
    TenantData,
    Workers,
    benchmark_environment,
    print_result_on_servers,
    seed_app_contacts,
    tenant_data,
)
from benchmarks.measures import RssSampler, TaskTimes, cpu_seconds, p95
from benchmarks.platform_check import check_platforms, linked_pairs
from benchmarks.profiles import HELP, PROFILES, profile_names
from contactsync import db
from contactsync.contact import CanonicalContact
from contactsync.demo import APP_EDITED_AT
from contactsync.models import AppContact, SyncRun, WriteOp
from contactsync.sandbox import run_in_thread, serve_in_thread
from contactsync.sandbox.admin_client import SandboxAdmin
from contactsync.store.contacts import upsert_app_contacts
from contactsync.store.tenants import upsert_tenant
from contactsync.tasks.schedule import trigger_sync

UNLIMITED = 100_000  # the highest limit a connection's options accept: ~1,700 calls/s, never reached here
WEBHOOK_SECRET = "bench-webhook-secret"


def say(*parts: Any) -> None:
    print(*parts, flush=True)


def seed(admin: SandboxAdmin, sandbox_url: str, t: int, data: TenantData, args: argparse.Namespace) -> None:
    token = f"bench-{t}"
    profile = PROFILES[args.dialects[t % len(args.dialects)]]
    admin.create_account(
        token,
        count=0,
        contacts=data.remote,
        rate_limit_per_minute=args.rate or None,
        variant=profile.variant,
        faults=profile.nature,
        **profile.account,
    )
    # The account lists what it creates at once (no visibility lag), and contactsync is told so: the app edits
    # between runs reach the contacts the full sync created with the next run, as they would on such a platform.
    options = {
        "rate_limit_per_minute": args.rate or UNLIMITED,
        **profile.paged(args.page_size),
        "visibility_lag_seconds": 0,
    }
    with db.session() as s:
        upsert_tenant(
            s, f"t{t}", name=f"Tenant {t}", dialect=profile.dialect,
            base_url=sandbox_url + profile.base_path, api_key="k", account_token=token, options=options,
            sync_interval_seconds=86_400, webhook_secret=WEBHOOK_SECRET if args.webhooks else None,
        )  # fmt: skip
    seed_app_contacts(f"t{t}", data.app, APP_EDITED_AT)


def platform_counts(admin: SandboxAdmin, tenants: int) -> tuple[list[int], int]:
    """Requests each account has counted so far, and the 429s sent in all."""
    stats = [admin.stats(f"bench-{t}") for t in range(tenants)]
    return [sum(s["requests"].values()) for s in stats], sum(int(s["rate_limited"]) for s in stats)


class CallTimeline:
    """Each tenant's platform-counted calls per `step` seconds, sampled in a thread while the runs are under way."""

    def __init__(self, admin: SandboxAdmin, tenants: int, step: float) -> None:
        self.admin, self.tenants, self.step = admin, tenants, step
        self.samples: list[list[int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="call-timeline", daemon=True)

    def start(self) -> None:
        self.samples.append(platform_counts(self.admin, self.tenants)[0])
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.step):
            self.samples.append(platform_counts(self.admin, self.tenants)[0])

    def stop(self) -> list[list[int]]:
        """Per tenant, the calls of each step (the last step may be shorter)."""
        self._stop.set()
        self._thread.join()
        self.samples.append(platform_counts(self.admin, self.tenants)[0])
        steps = zip(self.samples, self.samples[1:], strict=False)
        deltas = [[a - b for a, b in zip(after, before, strict=True)] for before, after in steps]
        return [list(column) for column in zip(*deltas, strict=True)]


def timed_runs(admin: SandboxAdmin, args: argparse.Namespace, full: bool, workers: Workers) -> dict[str, Any]:
    """Start one run per tenant, wait for all of them, and measure them against the platform's own counts."""
    timeline = CallTimeline(admin, args.tenants, args.timeline_step) if args.rate and full else None
    if timeline is not None:
        timeline.start()
    calls_before, limited_before = platform_counts(admin, args.tenants)
    with db.session() as s:
        writes_before = _writes_done(s)
    cpu_before = cpu_seconds(workers.pids(), os.environ["DATABASE_URL"])
    started = time.monotonic()
    run_ids = [trigger_sync(f"t{t}", full=full, trigger="bench") for t in range(args.tenants)]
    assert all(r is not None for r in run_ids), "a tenant already had a run"
    while True:
        with db.session() as s:
            runs = list(s.scalars(select(SyncRun).where(SyncRun.id.in_(run_ids))))
        if all(r.finished_at is not None for r in runs):
            break
        if time.monotonic() - started > args.timeout:
            raise SystemExit(f"runs not finished after {args.timeout}s: {[(r.id, r.status) for r in runs]}")
        time.sleep(0.05)  # a run of a second or two is measured to within this, not a quarter of a second
    wall = time.monotonic() - started
    cpu_after = cpu_seconds(workers.pids(), os.environ["DATABASE_URL"])
    calls_after, limited_after = platform_counts(admin, args.tenants)
    steps = timeline.stop() if timeline is not None else None
    per_tenant = [a - b for a, b in zip(calls_after, calls_before, strict=True)]
    with db.session() as s:
        writes = _writes_done(s) - writes_before
        write_phase = _write_phase(s, [r.id for r in runs])
    fetched = sum(r.fetched for r in runs)
    lower = max(per_tenant) * 60 / args.rate if args.rate else 0.0
    return {
        "run_ids": sorted(int(r) for r in run_ids if r is not None),
        "status": dict(Counter(r.status for r in runs)),
        "wall_s": round(wall, 2),
        "provider_calls": sum(per_tenant),
        "app_counted_calls": sum(r.api_calls for r in runs),
        "lower_bound_s": round(lower, 2),
        "utilization": round(lower / wall, 3) if args.rate else None,
        "self_429": limited_after - limited_before,
        "fetched": fetched,
        "linked": sum(r.linked for r in runs),
        "reviewed": sum(r.reviewed for r in runs),
        "created_remote": sum(r.created_remote for r in runs),
        "updated_remote": sum(r.updated_remote for r in runs),
        "updated_app": sum(r.updated_app for r in runs),
        "writes_done": writes,
        "contacts_per_s": round((fetched + writes) / wall, 1),
        "write_phase_s": write_phase,
        "cpu_s": {k: round(cpu_after[k] - cpu_before.get(k, 0.0), 1) for k in cpu_after},
        **({"timeline": {"step_s": args.timeline_step, "calls": steps}} if steps is not None else {}),
    }


def stages(events: TaskTimes, began: float, ended: float) -> dict[str, dict[str, float]]:
    """Where a phase's time went, by task name over all tenants: how many ran, their summed runtime, and when the
    first started and the last ended, in seconds from the phase's start (the workers' clock is this machine's)."""
    out: dict[str, dict[str, float]] = {}
    for spans in events.spans.values():
        for name, start, runtime in spans:
            if not began <= start <= ended:
                continue
            row = out.setdefault(name.removeprefix("contactsync."), {"n": 0, "busy_s": 0.0, "first": 1e9, "last": 0.0})
            row["n"] += 1
            row["busy_s"] += runtime
            row["first"] = min(row["first"], start - began)
            row["last"] = max(row["last"], start + runtime - began)
    return {k: {f: round(v, 3) for f, v in row.items()} for k, row in sorted(out.items(), key=lambda i: i[1]["first"])}


def _write_phase(s: Any, run_ids: list[int]) -> float | None:
    """The longest planning-and-writing stage of the runs: from the start of the transaction that planned the
    run's ledger entries (their `created_at`) to the run's end. None when no run planned a write."""
    rows = s.execute(
        select(SyncRun.finished_at, func.min(WriteOp.created_at))
        .join(WriteOp, WriteOp.run_id == SyncRun.id)
        .where(SyncRun.id.in_(run_ids))
        .group_by(SyncRun.id)
    ).all()
    spans = [(end - start).total_seconds() for end, start in rows if end is not None and start is not None]
    return round(max(spans), 2) if spans else None


def _writes_done(s: Any) -> int:
    return int(s.scalar(select(func.count()).select_from(WriteOp).where(WriteOp.status == "done")) or 0)


def change_both_sides(admin: SandboxAdmin, args: argparse.Namespace, rng: random.Random) -> int:
    """Edit `changed_fraction` of each tenant's linked pairs in the app and as many other pairs on the platform."""
    edited = 0
    for t in range(args.tenants):
        tenant = f"t{t}"
        pairs = linked_pairs(tenant, {})
        rng.shuffle(pairs)
        n = max(1, round(len(pairs) * args.changed_fraction))
        for i, pair in enumerate(pairs[:n]):
            number = f"+49 30 {rng.randrange(10**7, 10**8)}"
            with db.session() as s:
                row = s.get(AppContact, pair.app_contact_id)
                assert row is not None
                edit = CanonicalContact.model_validate({**row.data, "phones": [{"number": number, "type": "work"}]})
                upsert_app_contacts(s, tenant, [(row.app_id, edit)], updated_at=datetime.now(UTC))
            edited += 1
            other = pairs[n + i] if n + i < len(pairs) else None
            if other is not None:
                email = f"b{rng.randrange(10**9)}@example.org"
                admin.mutate(f"bench-{t}", "edit", id=other.remote_id, changes={"emails": [email]})
                edited += 1
    return edited


def webhook_latencies(admin: SandboxAdmin, args: argparse.Namespace, rng: random.Random) -> list[float]:
    """Platform edits one at a time; each one's time from the edit to the start of the run it caused."""
    from contactsync.api import create_app

    out: list[float] = []
    with serve_in_thread(create_app(), name="api") as api:
        for t in range(args.tenants):
            hook = {"url": f"{api.url}/webhooks/t{t}", "secret": WEBHOOK_SECRET, "scheme": "merge"}
            admin.configure(f"bench-{t}", webhook=hook)
        pairs = {t: linked_pairs(f"t{t}", {}) for t in range(args.tenants)}
        for i in range(args.webhook_samples):
            t = i % args.tenants
            pair = rng.choice(pairs[t])
            _wait_idle(f"t{t}", args.timeout)
            before = datetime.now(UTC)
            currency = rng.choice(["EUR", "USD", "GBP", "CHF"])
            admin.mutate(f"bench-{t}", "edit", id=pair.remote_id, changes={"currency": currency})
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with db.session() as s:
                    started = s.scalar(
                        select(func.min(SyncRun.started_at)).where(
                            SyncRun.tenant_id == f"t{t}", SyncRun.trigger == "webhook", SyncRun.started_at >= before
                        )
                    )
                if started is not None:
                    out.append((started - before).total_seconds())
                    break
                time.sleep(0.02)
            else:
                say(f"webhook sample {i}: no run within 30 s")
    return out


def _wait_idle(tenant_id: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            active = s.scalar(
                select(func.count())
                .select_from(SyncRun)
                .where(SyncRun.tenant_id == tenant_id, SyncRun.finished_at.is_(None))
            )
        if not active:
            return
        time.sleep(0.1)
    raise SystemExit(f"{tenant_id} still has a run after {timeout}s")


def profiled_workers(env: dict[str, str], tmp: Path, args: argparse.Namespace, into: Path) -> Workers:
    """Workers under cProfile with the solo pool, started: `python -m celery ...` becomes `python -m cProfile -o
    FILE -m celery ...`. One worker writes `worker.prof` (more than one would each overwrite it)."""
    into.mkdir(parents=True, exist_ok=True)
    prefix = [sys.executable, "-m", "cProfile", "-o", str(into / "worker.prof")]
    workers = Workers(env, tmp, args.workers, args.concurrency, prefix, ["--pool", "solo"])
    workers.start_all()
    return workers


def run(args: argparse.Namespace, server_db: str, redis_url: str, tmp: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    settings = {"CONTACTSYNC_QUEUE_SHARDS": str(max(args.workers, args.tenants))}
    if args.lookback is not None:
        settings["CONTACTSYNC_LOOKBACK_SECONDS"] = str(args.lookback)
    result: dict[str, Any] = {
        "tenants": args.tenants, "dialects": list(args.dialects), "contacts": args.contacts, "overlap": args.overlap,
        "rate": args.rate, "workers": f"{args.workers}x{args.concurrency}", "page_size": args.page_size,
    }  # fmt: skip
    workers: Workers | None = None
    logs = tmp
    if args.logs is not None:  # kept after the run, for a run worth looking into
        logs = args.logs
        logs.mkdir(parents=True, exist_ok=True)
    with benchmark_environment(server_db, redis_url, "bench", settings) as env, run_in_thread() as sandbox:
        try:
            admin = SandboxAdmin(sandbox.url)
            seeding = time.monotonic()
            datas = [tenant_data(1000 + t, args.contacts, args.overlap) for t in range(args.tenants)]
            for t, data in enumerate(datas):
                seed(admin, sandbox.url, t, data, args)
            took = time.monotonic() - seeding
            say(f"seeded {args.tenants} tenant(s) x {args.contacts} contacts per side in {took:.1f}s")
            if args.profile:
                workers = profiled_workers(env, logs, args, args.profile)
            else:
                workers = Workers(env, logs, args.workers, args.concurrency)
                workers.start_all()
            rss = RssSampler(workers)
            rss.start()
            pages = TaskTimes()
            pages.start()
            pages.ready.wait(10)
            began = time.time()
            full = timed_runs(admin, args, full=True, workers=workers)
            pages.settle()  # the last tasks' events
            full["stages"] = stages(pages, began, began + full["wall_s"])
            say("full sync:", json.dumps(full))
            result.update(full)
            if args.changed_fraction:
                edited = change_both_sides(admin, args, rng)
                if args.profile_incremental:  # the same workers, now each under cProfile with the solo pool
                    workers.stop()
                    workers = profiled_workers(env, logs, args, args.profile_incremental)
                began = time.time()
                inc = timed_runs(admin, args, full=False, workers=workers)
                inc["edited"] = edited
                pages.settle()  # the last tasks' events
                inc["stages"] = stages(pages, began, began + inc["wall_s"])
                inc["calls_share"] = round(inc["provider_calls"] / max(1, full["provider_calls"]), 4)
                inc["wall_share"] = round(inc["wall_s"] / full["wall_s"], 4)
                say("incremental:", json.dumps(inc))
                result["incremental"] = inc
                later = []
                for _ in range(args.incremental_rounds - 1):
                    # The same edits and run again. The first incremental run also re-reads the full sync's own
                    # creates (listed after its walk began); a later one reads only what changed since the last.
                    change_both_sides(admin, args, rng)
                    again = timed_runs(admin, args, full=False, workers=workers)
                    later.append(
                        {
                            "wall_s": again["wall_s"],
                            "provider_calls": again["provider_calls"],
                            "fetched": again["fetched"],
                            "writes_done": again["writes_done"],
                            "calls_share": round(again["provider_calls"] / max(1, full["provider_calls"]), 4),
                            "wall_share": round(again["wall_s"] / full["wall_s"], 4),
                        }
                    )
                    say("later incremental:", json.dumps(later[-1]))
                if later:
                    result["later_incremental"] = later
            if args.webhooks:
                latencies = webhook_latencies(admin, args, rng)
                result["webhook_samples"] = len(latencies)
                result["webhook_to_run_p95_s"] = round(p95(latencies) or -1, 3)
                result["webhook_to_run_max_s"] = round(max(latencies, default=-1), 3)
                for t in range(args.tenants):
                    _wait_idle(f"t{t}", args.timeout)
            result["peak_rss_mb"] = rss.stop()
            pages.stop()
            first_run = full["run_ids"][0]
            run_pages = sorted(p for (r, p) in pages.pages if r == first_run)
            if len(run_pages) > 10:
                last = 900 if 900 in run_pages else run_pages[-1]
                result["reconcile_page_s"] = {
                    "10": round(pages.pages[(first_run, 10)], 4) if (first_run, 10) in pages.pages else None,
                    str(last): round(pages.pages[(first_run, last)], 4),
                }
                say(f"reconcile of run {first_run}: page 10 {result['reconcile_page_s']['10']}s, page {last} "
                    f"{result['reconcile_page_s'][str(last)]}s ({len(run_pages)} pages timed)")  # fmt: skip
            checked = check_platforms(datas, examples=5)
            result["duplicates"] = checked["duplicates"]
            result["lost"] = checked["lost"]
            result["identity_guarded"] = checked["identity_guarded"]
        finally:
            if workers is not None:
                workers.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1)
    parser.add_argument("--contacts", type=int, default=1000, help="contacts on each side, per tenant")
    parser.add_argument("--overlap", type=float, default=0.5, help="share of them that are the same companies")
    parser.add_argument("--rate", type=int, default=0, help="requests per minute per tenant (0: no limit)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--changed-fraction", type=float, default=0.0)
    parser.add_argument(
        "--incremental-rounds",
        type=int,
        default=1,
        help="with --changed-fraction: edit, then run incrementally, this many times (later runs: later_incremental)",
    )
    parser.add_argument("--webhooks", action="store_true")
    parser.add_argument("--webhook-samples", type=int, default=20)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--lookback", type=int, help="CONTACTSYNC_LOOKBACK_SECONDS (default: the project's)")
    parser.add_argument("--dialects", type=profile_names, default=("merge",), help=HELP)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeline-step", type=float, default=5.0, help="seconds per step of the call timeline")
    parser.add_argument("--timeout", type=float, default=3600, help="give up on a run after this many seconds")
    parser.add_argument("--profile", type=Path, help="run the workers with the solo pool under cProfile, into DIR")
    parser.add_argument(
        "--profile-incremental", type=Path, help="as --profile, for the incremental run only (the full sync unprofiled)"
    )
    parser.add_argument("--logs", type=Path, help="write the workers' logs into DIR and keep them (default: discarded)")
    args = parser.parse_args()
    if args.webhooks and any(PROFILES[name].dialect != "merge" for name in args.dialects):
        parser.error("--webhooks sends Merge's webhooks and edits a currency: use it with --dialects merge")
    print_result_on_servers(run, args)


if __name__ == "__main__":
    main()
