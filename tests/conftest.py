"""Real servers for the tests: the operator's (TEST_DATABASE_URL / TEST_REDIS_URL) or embedded ones.

Each test gets its own database, cloned from a migrated template (cheap: a file copy inside PostgreSQL), and its
own Redis key prefix, so tests never see each other's rows, queues or rate-limit buckets.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

# Metrics recorded by code the tests run in this process go to a scratch directory, not the working tree's data dir.
# The process that makes it (pytest's main process: its xdist workers inherit the variable) removes it at exit.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="contactsync-test-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

from benchmarks.harness import delete_prefixed_keys

from contactsync.crypto import new_key
from contactsync.embedded import EmbeddedPostgres, EmbeddedRedis, refresh_process_settings
from contactsync.sandbox import SandboxHandle, run_in_thread


def _admin_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str]]:
    """(database server URL, Redis URL) for the whole session.

    Embedded servers live in a directory of their own, not under pytest's temporary root: run as root, the
    PostgreSQL server runs as its own user, which must traverse the path to its data, and every pytest that starts
    on the machine (another job's, too) takes the others' access to that root away again (mode 0700)."""
    pg: EmbeddedPostgres | None = None
    rd: EmbeddedRedis | None = None
    # TEST_* first; else the servers the operator configured for contactsync itself (tests only ever create and
    # drop their own databases there and use their own key prefixes); else embedded ones.
    db_url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL")
    base = Path(tempfile.mkdtemp(prefix="contactsync-test-servers-"))
    if not db_url:
        pg = EmbeddedPostgres(base / "pg")
        db_url = pg.start()
    if not redis_url:
        rd = EmbeddedRedis(base / "redis")
        rd.start()
        redis_url = rd.url
    try:
        yield db_url, redis_url
    finally:
        if rd is not None:
            rd.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def template_db(servers: tuple[str, str]) -> Iterator[str]:
    from contactsync import db

    db_url, _ = servers
    name = f"cs_tpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_conninfo(db_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db.upgrade(_with_database(db_url, name))
    yield name
    with psycopg.connect(_admin_conninfo(db_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def secret_key() -> str:
    return new_key()


@contextlib.contextmanager
def fresh_env(
    servers: tuple[str, str], template_db: str, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """A fresh database and Redis prefix, exported as the environment the code (and spawned workers) read."""
    db_url, redis_url = servers
    name = f"cs_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(db_url), autocommit=True) as conn:
        for attempt in range(20):
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
                break
            except psycopg.errors.ObjectInUse:
                # A template may not be copied while anything is connected to it (a lingering backend of the
                # migration run): wait for it to go.
                if attempt == 19:
                    raise
                time.sleep(0.25)
    prefix = f"cstest-{uuid.uuid4().hex[:10]}"
    values = {
        "DATABASE_URL": _with_database(db_url, name),
        "REDIS_URL": redis_url,
        "CONTACTSYNC_REDIS_PREFIX": prefix,
        "CONTACTSYNC_SECRET_KEY": secret_key,
        "CONTACTSYNC_QUEUE_SHARDS": "2",
        "CONTACTSYNC_LOG_LEVEL": "INFO",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    refresh_process_settings()
    yield values
    monkeypatch.undo()
    refresh_process_settings()
    delete_prefixed_keys(redis_url, prefix)
    with psycopg.connect(_admin_conninfo(db_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def env(
    servers: tuple[str, str], template_db: str, secret_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    with fresh_env(servers, template_db, secret_key, monkeypatch) as values:
        yield values


class Workers:
    """Real Celery worker processes for pipeline tests, each logging to its own file."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 2, concurrency: int = 2, plain: bool = False) -> list[subprocess.Popen[bytes]]:
        """Start `count` workers sharing the tenant queues, or (`plain`) Celery's own command line with no -Q."""
        import sys

        from contactsync.cli.processes import spawn, worker_command, worker_queues

        started = []
        for i in range(count):
            n = len(self.procs)
            log = self.log_dir / f"worker{n}.log"
            cmd = worker_command(worker_queues(i, count), f"test{n}-{uuid.uuid4().hex[:6]}", concurrency)
            if plain:
                cmd = [sys.executable, "-m", "celery", "-A", "contactsync.worker", "worker", "-c", "2", "-l", "INFO"]
            proc = spawn(cmd, log, self.env)
            self.procs.append(proc)
            started.append(proc)
        for i, proc in enumerate(started):
            self._wait_ready(proc, self.log_dir / f"worker{len(self.procs) - len(started) + i}.log")
        return started

    def _wait_ready(self, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{log.read_text()[-3000:]}")
            if log.exists() and "ready." in log.read_text():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout}s:\n{log.read_text()[-3000:]}")

    def logs(self) -> str:
        return "\n".join(p.read_text()[-4000:] for p in sorted(self.log_dir.glob("worker*.log")))

    def stop(self) -> None:
        from contactsync.cli.processes import stop

        stop(self.procs, timeout=15)
        self.procs = []


@pytest.fixture
def workers(env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    w = Workers(env, tmp_path)
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """A sandbox provider over real HTTP for one test (tests/providers, tests/sandbox and tests/api share one per
    session or module instead: their conftest overrides this)."""
    with run_in_thread() as handle:
        yield handle
