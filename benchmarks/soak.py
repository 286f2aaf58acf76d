"""Soak: tenants sync in a loop while workers are killed, Redis restarts, database connections are cut and the
platform misbehaves; afterwards nothing may be duplicated, lost or left running.

It keeps `--tenants` tenants syncing (the beat starts each one's next run a few seconds after the last ended)
through `--workers` Celery workers for `--minutes` (counted from the end of the last tenant's first full sync,
which already runs under fire unless `--calm-start`), and meanwhile:

- SIGKILLs a random ready worker every `--kill-every` seconds (on average): one pool process, which the worker
  replaces, or (`--whole-worker-share` of the kills) the whole worker with its pool, started again at once;
- kills its own Redis (SIGKILL, no save) every `--redis-every` seconds and starts it again on the same port;
- terminates every PostgreSQL connection to its own database every `--pg-every` seconds;
- has the sandbox answer 5xx, drop connections, lose the answers of committed writes or answer them 503, and
  list a created contact only `--platform-lag-ms` after the create throughout, and send 429 bursts to one
  account for a few seconds every `--burst-every` seconds;
- edits both sides between runs (a tenant is paused, its run allowed to end, then edited and resumed): field
  edits of linked pairs on either side, some pairs edited on both (the newer side must win), new app contacts
  (to be created on the platform exactly once) and new platform contacts.

Then the faults stop, every tenant runs twice more (two runs begun at least `--visibility-lag` later, as an
update of a contact created just before waits for such a walk), the tenants are paused, and the soak checks:

1. every run ended (none is left fetching, reconciling or writing);
2. no duplicate on any platform (no name more often than the books plus the creates justify);
3. no lost change: every linked pair agrees field by field, the newest edit of every edited pair holds on both
   sides, and every app contact the soak added is linked to a platform contact.

It prints the kills and faults survived and one JSON line, and exits 1 when an invariant fails.

    python -m benchmarks.soak --minutes 20
    python -m benchmarks.soak --minutes 0.25 --tenants 2 --contacts 40 --kill-every 2   # smoke
    python -m benchmarks.soak --minutes 10 --dialects maesn,merge,maesn-split   # tenants on both dialects, in turn

It uses only servers it owns: a Redis it starts (the one it restarts), and PostgreSQL from DATABASE_URL (a
database it creates and drops; only that database's connections are cut) or an embedded one.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from benchmarks.harness import (
    TenantData,
    Workers,
    drop_database,
    environment,
    fresh_database,
    seed_app_contacts,
    servers,
    tenant_data,
    terminate_backends,
)
from benchmarks.profiles import HELP, PROFILES, profile_names
from benchmarks.soak_check import Tally, check
from benchmarks.soak_edits import Editor, NotYet
from contactsync import db
from contactsync.cli.processes import beat_command, spawn
from contactsync.crypto import new_key
from contactsync.demo import APP_EDITED_AT
from contactsync.embedded import EmbeddedRedis
from contactsync.models import ACTIVE_RUN_STATES, SyncRun, Tenant
from contactsync.sandbox import run_in_thread
from contactsync.sandbox.admin_client import SandboxAdmin
from contactsync.store.tenants import upsert_tenant

BASE_FAULTS = {
    "error_rate": 0.05,
    "reset_rate": 0.02,
    "drop_after_commit_rate": 0.15,
    "error_after_commit_rate": 0.03,
    "latency_ms": 5,
}


NO_FAULTS = {
    "error_rate": 0.0,
    "reset_rate": 0.0,
    "drop_after_commit_rate": 0.0,
    "error_after_commit_rate": 0.0,
    "latency_ms": 0,
    "throttle_rate": 0.0,
}


_T0 = time.monotonic()


def say(*parts: Any) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s]", *parts, flush=True)


class Soak:
    def __init__(self, args: argparse.Namespace, redis: EmbeddedRedis, database: str, tmp: Path) -> None:
        self.args, self.redis, self.database, self.tmp = args, redis, database, tmp
        self.rng = random.Random(args.seed)
        self.tally = Tally()
        self.stop = threading.Event()
        self.workers: Workers | None = None
        self.beat: Any = None
        self.admin: SandboxAdmin | None = None
        self.datas: list[TenantData] = []
        self.errors: list[str] = []
        self.passed = False

    # -- set-up ---------------------------------------------------------------------------------------------

    def seed(self, sandbox_url: str) -> None:
        admin = self.admin = SandboxAdmin(sandbox_url)
        # Merge's limit on failed requests from one address (more than 20 in 10 s), which the injected 5xx feed:
        # reached, every Merge tenant would be refused at once (`providers.failure_window` keeps clear of it).
        admin.address(failures=20, window_s=10)
        for t in range(self.args.tenants):
            data = tenant_data(2000 + t, self.args.contacts, 0.5)
            self.datas.append(data)
            token = f"soak-{t}"
            name = self.args.dialects[t % len(self.args.dialects)]
            profile = PROFILES[name]
            admin.create_account(
                token,
                seed=self.args.seed,
                count=0,
                contacts=data.remote,
                faults={**BASE_FAULTS, **profile.nature, "visibility_lag_ms": self.args.platform_lag_ms},
                variant=profile.variant,
                **profile.account,
            )
            # Pages smaller than the tenant, so every walk is several pages.
            options = {"rate_limit_per_minute": 100_000, **profile.paged(25 if profile.dialect == "merge" else 20)}
            with db.session() as s:
                upsert_tenant(
                    s, f"t{t}", name=f"Soak tenant {t}", dialect=profile.dialect,
                    base_url=sandbox_url + profile.base_path, api_key="k", account_token=token, options=options,
                    sync_interval_seconds=3,
                )  # fmt: skip
            self.tally.dialects[f"t{t}"] = name
            seed_app_contacts(f"t{t}", data.app, APP_EDITED_AT)
            self.tally.added_app[f"t{t}"] = []
            self.tally.added_names[f"t{t}"] = Counter()

    def start_processes(self, env: dict[str, str]) -> None:
        self.workers = Workers(env, self.tmp, self.args.workers, self.args.concurrency)
        self.workers.start_all()
        self._start_beat()

    def _start_beat(self) -> None:
        self.beat = spawn(beat_command(self.tmp / "beat-schedule"), self.tmp / "beat.log")

    # -- chaos ----------------------------------------------------------------------------------------------

    def chaos(self) -> None:
        a = self.args
        now = time.monotonic()
        due = {
            "kill": now + a.kill_every,
            "redis": now + a.redis_every,
            "pg": now + a.pg_every,
            "burst": now + a.burst_every,
        }
        burst_end: tuple[float, str] | None = None
        assert self.workers is not None and self.admin is not None
        while not self.stop.wait(0.2):
            try:
                now = time.monotonic()
                if burst_end is not None and now >= burst_end[0]:
                    self.admin.configure(burst_end[1], faults={"throttle_rate": 0.0})
                    burst_end = None
                if now >= due["kill"]:
                    # Only a worker that is up: killing one still starting would only stop all progress.
                    ready = [i for i in range(a.workers) if self.workers.is_ready(i)]
                    if ready:
                        kind = self.workers.kill(self.rng.choice(ready), self.rng, a.whole_worker_share)
                        self.tally.kills[kind] += 1
                        due["kill"] = now + self.rng.uniform(0.5, 1.5) * a.kill_every
                if now >= due["redis"]:
                    self._restart_redis()
                    due["redis"] = time.monotonic() + self.rng.uniform(0.7, 1.3) * a.redis_every
                if now >= due["pg"]:
                    self.tally.pg_backends_terminated += terminate_backends(self.database)
                    self.tally.pg_cuts += 1
                    due["pg"] = now + self.rng.uniform(0.7, 1.3) * a.pg_every
                if now >= due["burst"] and burst_end is None:
                    token = f"soak-{self.rng.randrange(self.args.tenants)}"
                    self.admin.configure(token, faults={"throttle_rate": 0.8})
                    burst_end = (now + self.rng.uniform(2, 4), token)
                    self.tally.bursts += 1
                    due["burst"] = now + self.rng.uniform(0.7, 1.3) * a.burst_every
                if self.beat.poll() is not None:
                    self._start_beat()
                    self.tally.beat_restarts += 1
                self.tally.worker_exits += self.workers.restart_exited()
            except Exception as exc:  # the soak itself must go on; what failed is reported at the end
                self.errors.append(f"chaos: {type(exc).__name__}: {exc}")
        if burst_end is not None:
            self.admin.configure(burst_end[1], faults={"throttle_rate": 0.0})

    def _restart_redis(self) -> None:
        process = self.redis.process
        assert process is not None
        process.send_signal(signal.SIGKILL)  # no shutdown save: the last second of the append-only file may go
        process.wait()
        time.sleep(self.rng.uniform(0.5, 2.0))
        self.redis.start()  # same port, same append-only file
        self.tally.redis_restarts += 1

    # -- edits between runs ---------------------------------------------------------------------------------

    def editor(self) -> None:
        while not self.stop.wait(self.rng.uniform(0.5, 1.5) * self.args.edit_every):
            tenant = f"t{self.rng.randrange(self.args.tenants)}"
            try:
                if self._pause_until_idle(tenant, timeout=self.args.edit_wait):
                    Editor(self.args, self.rng, self.tally, self.admin).edit(tenant)
                    self.tally.edit_rounds += 1
                else:
                    self.tally.edit_rounds_skipped += 1
            except NotYet:
                pass  # its first run has not linked anything yet
            except OperationalError:
                self.tally.edit_rounds_skipped += 1  # the database was cut mid-round; what was done is recorded
            except Exception as exc:
                self.errors.append(f"editor: {type(exc).__name__}: {exc}")
            finally:
                self._resume(tenant)

    def _pause_until_idle(self, tenant: str, timeout: float) -> bool:
        with db.session() as s:
            s.execute(update(Tenant).where(Tenant.id == tenant).values(paused=True))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            if not _active_runs(tenant):
                return True
            time.sleep(0.2)
        return False

    def _resume(self, tenant: str) -> None:
        for _ in range(30):  # the database may be cut right now
            try:
                with db.session() as s:
                    s.execute(update(Tenant).where(Tenant.id == tenant).values(paused=False, next_sync_at=None))
                return
            except Exception:
                time.sleep(0.5)

    def wait_first_runs(self) -> None:
        """The soak's minutes count from the end of the last tenant's first (full) sync, so edits always happen."""
        deadline = time.monotonic() + self.args.drain_timeout
        while time.monotonic() < deadline:
            try:
                with db.session() as s:
                    synced = s.scalar(
                        select(func.count(func.distinct(SyncRun.tenant_id))).where(SyncRun.finished_at.is_not(None))
                    )
                if (synced or 0) >= self.args.tenants:
                    return
            except Exception:  # the database being cut right now
                pass
            time.sleep(0.5)
        self.errors.append("not every tenant finished its first run before the drain timeout")

    # -- the end ------------------------------------------------------------------------------------------

    def settle(self) -> dict[str, int]:
        """Faults off, everything running, two more runs per tenant begun a visibility lag from now; then pause all
        and wait for the last runs."""
        assert self.workers is not None and self.admin is not None
        for t in range(self.args.tenants):
            self.admin.configure(f"soak-{t}", faults=NO_FAULTS)
        if self.redis.process is None or self.redis.process.poll() is not None:
            self.redis.start()
        self.tally.worker_exits += self.workers.restart_exited()
        if self.beat.poll() is not None:
            self._start_beat()
        # Runs that began a visibility lag from now: an update of a contact created before now waits for a walk
        # that began that long after its create (`sync.walks.walk_shows_our_create`).
        quiet = datetime.now(UTC) + timedelta(seconds=self.args.visibility_lag)
        with db.session() as s:
            s.execute(update(Tenant).values(paused=False, next_sync_at=None))
        deadline = time.monotonic() + self.args.drain_timeout
        pending = {f"t{t}" for t in range(self.args.tenants)}
        while pending and time.monotonic() < deadline:
            self.tally.worker_exits += self.workers.restart_exited()
            with db.session() as s:
                for tenant in list(pending):
                    ended = s.scalar(
                        select(func.count())
                        .select_from(SyncRun)
                        .where(
                            SyncRun.tenant_id == tenant, SyncRun.started_at > quiet, SyncRun.finished_at.is_not(None)
                        )
                    )
                    if (ended or 0) >= 2:
                        pending.discard(tenant)
            time.sleep(0.5)
        with db.session() as s:
            s.execute(update(Tenant).values(paused=True))
        while time.monotonic() < deadline and any(_active_runs(f"t{t}") for t in range(self.args.tenants)):
            self.tally.worker_exits += self.workers.restart_exited()
            time.sleep(0.5)
        return {"tenants_without_two_quiet_runs": len(pending)}


def _active_runs(tenant: str) -> int:
    with db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(SyncRun)
                .where(SyncRun.tenant_id == tenant, SyncRun.status.in_(ACTIVE_RUN_STATES))
            )
            or 0
        )


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so the `finally` blocks stop the workers and servers this soak started


def main() -> int:
    signal.signal(signal.SIGTERM, _terminated)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--contacts", type=int, default=200, help="contacts on each side, per tenant")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--whole-worker-share", type=float, default=0.25, help="kills that take a whole worker")
    parser.add_argument("--redis-every", type=float, default=60.0)
    parser.add_argument("--pg-every", type=float, default=20.0)
    parser.add_argument("--burst-every", type=float, default=15.0)
    parser.add_argument("--edit-every", type=float, default=3.0)
    parser.add_argument("--edit-fraction", type=float, default=0.02, help="pairs edited on each side per round")
    parser.add_argument("--edit-wait", type=float, default=180.0, help="how long an edit round waits for a run")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--calm-start", action="store_true", help="first syncs without faults (a quick smoke)")
    parser.add_argument(
        "--visibility-lag",
        type=int,
        default=3,
        help="CONTACTSYNC_VISIBILITY_LAG_SECONDS for the soak's processes (above the sandbox's --platform-lag-ms)",
    )
    parser.add_argument(
        "--platform-lag-ms",
        type=int,
        default=1000,
        help="the sandbox lists a created contact only this long after the create (a platform's lag); keep it "
        "below --visibility-lag, the lag contactsync is told to expect",
    )
    parser.add_argument(
        "--keep-database", action="store_true", help="keep the database (and logs) when an invariant fails"
    )
    parser.add_argument("--dialects", type=profile_names, default=("merge",), help=HELP)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        server_db, redis_url, owned = servers(tmp, own_redis=True)
        redis = next(s for s in owned if isinstance(s, EmbeddedRedis))
        database = fresh_database(server_db, "cs_soak")
        env = {
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "CONTACTSYNC_REDIS_PREFIX": f"soak-{uuid.uuid4().hex[:8]}",
            "CONTACTSYNC_SECRET_KEY": new_key(),
            "CONTACTSYNC_QUEUE_SHARDS": str(max(args.workers, args.tenants)),
            "CONTACTSYNC_LOG_LEVEL": "INFO",
            "CONTACTSYNC_SCHEDULE_TICK_SECONDS": "1",
            "CONTACTSYNC_STALE_RUN_SECONDS": "5",
            # The soak's sandbox lists a created contact `--platform-lag-ms` after the create; a few seconds
            # (not the 15-minute default meant for real platforms) lets a lost create whose request never
            # arrived be proven absent, and sent again, within the soak's settling runs.
            "CONTACTSYNC_VISIBILITY_LAG_SECONDS": str(args.visibility_lag),
        }
        soak: Soak | None = None
        try:
            with environment(env), run_in_thread() as sandbox:
                db.upgrade()
                soak = Soak(args, redis, database, tmp)
                soak.seed(sandbox.url)
                soak.start_processes(env)
                say(f"soak: {args.tenants} tenants x {args.contacts} contacts, {args.workers} workers")
                threads = [threading.Thread(target=soak.chaos), threading.Thread(target=soak.editor)]
                if args.calm_start:
                    soak.wait_first_runs()
                for thread in threads:
                    thread.start()
                soak.wait_first_runs()
                say(f"every tenant synced once; {args.minutes} more minutes")
                soak.stop.wait(args.minutes * 60)
                soak.stop.set()
                for thread in threads:
                    thread.join()
                say("chaos over; faults off, two more runs per tenant")
                settled = soak.settle()
                say("settled; checking both sides")
                result = check(soak.datas, soak.tally) | settled
                soak.passed = not (result["unfinished_runs"] or result["duplicates"] or result["lost"])
                injected: Counter[str] = Counter()
                refused: Counter[str] = Counter()  # the platforms' own limits, apart from injected faults
                assert soak.admin is not None
                for t in range(args.tenants):
                    stats = soak.admin.stats(f"soak-{t}")
                    injected.update(stats["injected"])
                    refused.update(
                        per_minute=stats["rate_limited"],
                        concurrent=stats["concurrency_limited"],
                    )
                refused.update(address=soak.admin.address()["limited"])
        finally:
            if soak is not None:
                if soak.workers is not None:
                    soak.workers.stop()
                if soak.beat is not None:
                    from contactsync.cli.processes import stop

                    stop([soak.beat])
            if args.keep_database and not (soak and soak.passed):
                logs = Path(tempfile.gettempdir()) / f"{database.rsplit('/', 1)[-1]}-logs"
                shutil.copytree(tmp, logs, ignore=shutil.ignore_patterns("pg", "*.aof*", "appendonly*", "*.rdb"))
                say(f"database kept for inspection: {database}; process logs in {logs}")
            else:
                drop_database(database)
            for server in owned:
                server.stop()
    tally = soak.tally
    result |= {
        "minutes": args.minutes,
        "dialects": dict(tally.dialects),
        "worker_kills": sum(tally.kills.values()),
        "kills": dict(tally.kills),
        "redis_restarts": tally.redis_restarts,
        "pg_cuts": tally.pg_cuts,
        "pg_backends_terminated": tally.pg_backends_terminated,
        "beat_restarts": tally.beat_restarts,
        "worker_exits_restarted": tally.worker_exits,
        "worker_exit_reasons": soak.workers.exits[:10] if soak.workers is not None else [],
        "faults_injected": dict(injected),
        # 429s for the accounts' own limits (`merge-xero5` serves five requests at once): a connection capped as
        # its platform is sees "concurrent" ones only after a Redis restart forgot its places. "address": Merge's
        # 429s for every tenant after too many failed requests from the deployment's address.
        "platform_refused": dict(refused),
        "burst_windows": tally.bursts,
        "edit_rounds": tally.edit_rounds,
        "edit_rounds_skipped": tally.edit_rounds_skipped,
        "edits": len(tally.edits),
        "platform_clears": tally.platform_clears,
        "app_clears": tally.app_clears,
        "added_app_contacts": sum(len(v) for v in tally.added_app.values()),
        "soak_errors": soak.errors[:10],
    }
    failed = [
        name
        for name, broken in (
            ("a run did not end", result["unfinished_runs"] > 0),
            ("duplicates", result["duplicates"] > 0),
            ("lost changes", result["lost"] > 0),
        )
        if broken
    ]
    say(
        f"survived {result['worker_kills']} worker kills ({dict(tally.kills)}), {tally.redis_restarts} Redis "
        f"restarts ({tally.worker_exits} workers exited by themselves and were restarted), {tally.pg_cuts} "
        f"database cuts ({tally.pg_backends_terminated} connections), "
        f"{sum(injected.values())} injected faults {dict(injected)}; {len(tally.edits)} edits "
        f"({tally.platform_clears} clearing a field on the platform, {tally.app_clears} in the app) in "
        f"{tally.edit_rounds} rounds; runs {result['runs']}"
    )
    say("invariants:", "FAILED: " + ", ".join(failed) if failed else "all hold")
    result["ok"] = not failed
    print(json.dumps(result), flush=True)  # the last line: one JSON object
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
