"""Engine and sessions per process, and the schema upgrade.

Celery's prefork pool forks after import; a pooled connection inherited across fork would be shared by two
processes, so `reset_engine()` is called in each child (see `tasks.process`) and the engine is created lazily.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Self, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from contactsync import jsontext
from contactsync.settings import get_settings

T = TypeVar("T")

_engine: Engine | None = None
_sessions: sessionmaker[Session] | None = None

MIGRATIONS = Path(__file__).parent / "migrations"


def engine() -> Engine:
    global _engine, _sessions
    if _engine is None:
        _engine = create_engine(
            get_settings().sqlalchemy_url(),
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            # JSON documents in and out through orjson (see `jsontext`: the same values, a fraction of the CPU).
            json_serializer=jsontext.dumps_bytes,
            json_deserializer=jsontext.loads,
        )
        _sessions = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def reset_engine() -> None:
    global _engine, _sessions
    if _engine is not None:
        _engine.dispose(close=False)
    _engine = None
    _sessions = None


@contextlib.contextmanager
def session() -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on any exception."""
    engine()
    assert _sessions is not None
    with _sessions() as s, s.begin():
        yield s


_AFTER_COMMIT = "contactsync.after_commit"


def on_commit(s: Session, callback: Callable[[], object]) -> None:
    """Run `callback` once the session's transaction has committed, never if it rolls back.

    Metrics and lifecycle log lines describe what the database now holds; recorded inside a transaction that a
    failing task rolls back (and a retry repeats), they would count the same work twice.
    """
    s.info.setdefault(_AFTER_COMMIT, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(s: Session) -> None:
    for callback in s.info.pop(_AFTER_COMMIT, []):
        callback()


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(s: Session) -> None:
    s.info.pop(_AFTER_COMMIT, None)


def upgrade(url: str | None = None, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", (url or get_settings().sqlalchemy_url()).replace("%", "%%"))
    command.upgrade(cfg, revision)


def schema_is_current() -> bool:
    """True when the database is at the newest migration; reads the version table only, logs nothing."""
    quiet = logging.getLogger("alembic")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # alembic announces its plugins and dialect at INFO even for a look
    try:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory(str(MIGRATIONS)).get_heads())
        with engine().connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads()) == heads
    finally:
        quiet.setLevel(level)


def ensure_schema() -> None:
    """For commands that write: migrate when behind, and stay silent when the schema is already current."""
    if not schema_is_current():
        upgrade()


def require_schema() -> None:
    """For read-only commands: never migrate (a look at the runs must not change the database), refuse instead."""
    from contactsync.settings import ConfigError

    if not schema_is_current():
        raise ConfigError("the database schema is not current; run `contactsync db upgrade` first")


class ReadsAside:
    """Short reads on a connection of their own, held while a walk lasts: a walk asks from whichever thread
    fetches its page (never two at once), and its own sessions keep the connection they had, with the statements
    PostgreSQL has prepared on it. Each read is its own transaction, ended at once: it holds no snapshot."""

    def __init__(self) -> None:
        self._conn: Connection | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def read(self, query: Callable[[Connection], T]) -> T:
        if self._conn is None:
            self._conn = engine().connect()
        try:
            answer = query(self._conn)
            self._conn.rollback()  # nothing was written: the transaction only ends
        except BaseException:
            self.close()  # a connection the server dropped is not asked again; the walk's failure handling decides
            raise
        return answer
