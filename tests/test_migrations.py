"""The Alembic migrations produce exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from contactsync.models import Base


def test_models_and_migrations_agree(env: dict[str, str]) -> None:
    engine = create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_is_repeatable_and_reaches_head(env: dict[str, str]) -> None:
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from contactsync import db

    db.upgrade(env["DATABASE_URL"])
    db.upgrade(env["DATABASE_URL"])
    head = ScriptDirectory(str(db.MIGRATIONS)).get_current_head()
    engine = create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    engine.dispose()
