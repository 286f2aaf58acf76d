"""What the pipeline benchmark and the soak share: servers, databases, seeded tenants and worker processes.
What they measure while they run is `benchmarks.measures`; reading the platform back and checking it is
`benchmarks.platform_check`."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
import redis
from sqlalchemy import select
from sqlalchemy.engine import make_url

from contactsync import db
from contactsync.cli.processes import spawn, worker_command, worker_queues
from contactsync.contact import CanonicalContact
from contactsync.crypto import new_key
from contactsync.demo import _app_variant
from contactsync.embedded import EmbeddedPostgres, EmbeddedRedis, refresh_process_settings
from contactsync.models import SyncRun
from contactsync.sandbox.seed import companies
from contactsync.store.contacts import upsert_app_contacts

# -- servers and databases ------------------------------------------------------------------------------------


def servers(tmp: Path, *, own_redis: bool = False) -> tuple[str, str, list[Any]]:
    """(PostgreSQL server URL, Redis URL, servers started here). DATABASE_URL / REDIS_URL when set, else
    embedded ones; `own_redis` always starts a private Redis (one that may be killed and restarted)."""
    owned: list[Any] = []
    db_url = os.environ.get("DATABASE_URL")
    redis_url = None if own_redis else os.environ.get("REDIS_URL")
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


def print_result_on_servers(run: Callable[[Any, str, str, Path], dict[str, Any]], args: Any) -> None:
    """Start (or reach) the servers, run the benchmark, stop what was started, and print the result as the last line:
    the one JSON object a benchmark's caller reads."""
    with tempfile.TemporaryDirectory() as tmp:
        server_db, redis_url, owned = servers(Path(tmp))
        try:
            result = run(args, server_db, redis_url, Path(tmp))
        finally:
            for server in owned:
                server.stop()
    print(json.dumps(result), flush=True)


def admin_url(url: str) -> str:
    """The server's maintenance database, where databases are created, dropped and their backends listed."""
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(False)


def fresh_database(server_url: str, prefix: str = "cs_bench") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(drivername="postgresql+psycopg", database=name).render_as_string(False)


def drop_database(url: str) -> None:
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def terminate_backends(url: str) -> int:
    """Terminate every server connection to this database (and only to it), as a failover would."""
    name = make_url(url).database
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return sum(1 for (ok,) in rows if ok)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Export `values` for this process (and the workers it spawns) and point engines and Celery at them."""
    saved = dict(os.environ)
    os.environ.update(values)
    refresh_process_settings()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        refresh_process_settings()


@contextlib.contextmanager
def benchmark_environment(
    server_db: str, redis_url: str, name: str, settings: dict[str, str]
) -> Iterator[dict[str, str]]:
    """A benchmark's own world on shared servers: a fresh database (migrated here, dropped on the way out), a Redis
    key prefix and a secret key of its own, exported with `settings` (CONTACTSYNC_*) for this process and the
    workers it spawns; yields the exported values. Stop the workers before leaving: the drop ends their sessions,
    and the prefix's keys (queue bindings, webhook dedup marks) are deleted, so a shared Redis keeps none."""
    database = fresh_database(server_db)
    prefix = f"{name}-{uuid.uuid4().hex[:8]}"
    env = {
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "CONTACTSYNC_REDIS_PREFIX": prefix,
        "CONTACTSYNC_SECRET_KEY": new_key(),
        "CONTACTSYNC_LOG_LEVEL": "INFO",  # workers report "ready." at INFO
        **settings,
    }
    try:
        with environment(env):
            db.upgrade()
            yield env
    finally:
        drop_database(database)
        delete_prefixed_keys(redis_url, prefix)


def delete_prefixed_keys(redis_url: str, prefix: str) -> None:
    """Delete every key under a run's `CONTACTSYNC_REDIS_PREFIX` (a benchmark's, a test's), a thousand at a time."""
    client = redis.Redis.from_url(redis_url)
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) == 1000:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


# -- data -----------------------------------------------------------------------------------------------------


@dataclass
class TenantData:
    """One tenant's books and app contacts: `both` companies on both sides (the app's copy spelled a little
    differently, as in the demo), then platform-only and app-only ones."""

    remote: list[CanonicalContact]
    app: list[tuple[str, CanonicalContact]]
    both: int

    def expected_names(self) -> Counter[str]:
        """How often each name may appear on the platform after a correct sync: the books, plus one per
        app-only company."""
        names = Counter(c.name.casefold() for c in self.remote)
        names.update(c.name.casefold() for _, c in self.app[self.both :])
        return names


def tenant_data(seed: int, contacts: int, overlap: float) -> TenantData:
    """`contacts` on each side, `overlap` of them the same companies."""
    both = round(contacts * overlap)
    only = contacts - both
    pool = companies(seed, both + 2 * only)
    remote = pool[: both + only]
    app = [(f"app-{i:07d}", _app_variant(c, i)) for i, c in enumerate(pool[:both])]
    start = both + only
    app += [(f"app-{i:07d}", c.model_copy(update={"remote_id": None})) for i, c in enumerate(pool[start:], start)]
    return TenantData(remote=remote, app=app, both=both)


def seed_app_contacts(tenant_id: str, contacts: list[tuple[str, CanonicalContact]], updated_at: datetime) -> None:
    """A new tenant's app contacts, through the app's own import path, a thousand per transaction (one
    transaction for a 100,000-contact tenant would hold every row and key in one session)."""
    for start in range(0, len(contacts), 1000):
        with db.session() as s:
            upsert_app_contacts(s, tenant_id, contacts[start : start + 1000], updated_at=updated_at)


# -- worker processes -----------------------------------------------------------------------------------------


@dataclass
class Workers:
    """Celery worker processes sharing the tenant queues; each can be killed and started again."""

    env: dict[str, str]
    log_dir: Path
    count: int
    concurrency: int
    command_prefix: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    # Where each worker's log stood when it was last started: "ready." counts only after that.
    _offsets: dict[int, int] = field(default_factory=dict)
    # Why workers exited on their own (`restart_exited`): the exit code and the last lines each logged.
    exits: list[str] = field(default_factory=list)

    def start_all(self) -> None:
        self.procs = [None] * self.count
        for i in range(self.count):
            self.start(i, wait=False)
        for i in range(self.count):
            self.wait_ready(i)

    def _log(self, i: int) -> Path:
        return self.log_dir / f"worker{i}.log"

    def start(self, i: int, wait: bool = True) -> None:
        log = self._log(i)
        self._offsets[i] = log.stat().st_size if log.exists() else 0
        cmd = worker_command(worker_queues(i, self.count), f"w{i}-{uuid.uuid4().hex[:6]}", self.concurrency, self.extra)
        if self.command_prefix:
            cmd = [*self.command_prefix, *cmd[1:]]  # cmd[0] is the interpreter
        self.procs[i] = spawn(cmd, log, {**os.environ, **self.env})
        if wait:
            self.wait_ready(i)

    def is_ready(self, i: int) -> bool:
        """Whether worker `i` (as last started) has said it is ready to take tasks."""
        log = self._log(i)
        if not log.exists():
            return False
        with open(log, "rb") as fh:
            fh.seek(self._offsets.get(i, 0))
            return b"ready." in fh.read()

    def wait_ready(self, i: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        proc = self.procs[i]
        assert proc is not None
        while time.monotonic() < deadline:
            if self.is_ready(i):
                return
            if proc.poll() is not None:
                raise RuntimeError(f"worker {i} exited:\n{self.logs()}")
            time.sleep(0.2)
        raise RuntimeError(f"worker {i} not ready in {timeout}s:\n{self.logs()}")

    def restart_exited(self) -> int:
        """Start again every worker that exited on its own, as a deployment's restart policy would; how many.
        Each exit's code and the last lines it logged are kept in `exits`."""
        exited = [i for i, p in enumerate(self.procs) if p is not None and p.poll() is not None]
        for i in exited:
            proc = self.procs[i]
            assert proc is not None
            self.exits.append(f"worker {i} exit {proc.returncode}: {self._last_lines(i)}")
            self.start(i, wait=False)
        return len(exited)

    def _last_lines(self, i: int, lines: int = 40) -> str:
        """What worker `i` logged last since it was started: from its last traceback on, if it logged one."""
        with open(self._log(i), "rb") as fh:
            fh.seek(self._offsets.get(i, 0))
            logged = fh.read().decode(errors="replace").strip().splitlines()
        starts = [n for n, line in enumerate(logged) if line.startswith("Traceback")]
        tail = logged[starts[-1] :] if starts else logged
        return " | ".join(line.strip()[:300] for line in tail[-lines:])

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None and p.poll() is None]

    def kill(self, i: int, rng: random.Random, whole_share: float = 0.5) -> str:
        """SIGKILL worker `i`: one pool process (the worker replaces it), or with probability `whole_share` the
        whole worker with its pool (started again at once). Returns which."""
        proc = self.procs[i]
        assert proc is not None
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        if children and rng.random() >= whole_share:
            with contextlib.suppress(psutil.NoSuchProcess):
                rng.choice(children).send_signal(signal.SIGKILL)
            return "pool process"
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(signal.SIGKILL)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.start(i, wait=False)  # not waited for: the next kill may well hit it while it starts
        return "worker"

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(p.read_text(errors="replace")[-tail:] for p in sorted(self.log_dir.glob("worker*.log")))

    def stop(self, timeout: float = 20) -> None:
        from contactsync.cli.processes import stop

        stop([p for p in self.procs if p is not None], timeout=timeout)


def runs_by_status(run_ids: list[int] | None = None) -> Counter[str]:
    with db.session() as s:
        query = select(SyncRun.status)
        if run_ids is not None:
            query = query.where(SyncRun.id.in_(run_ids))
        return Counter(s.scalars(query))
