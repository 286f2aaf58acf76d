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


def test_partial_indexes_hold_exactly_the_states_of_their_enum(env: dict[str, str]) -> None:
    """The migrated predicates (history, spelled out in the migrations) and the enums the code uses agree: a new
    active run state, or a review state renamed, shows here before a tenant gets two leases."""
    import re

    from sqlalchemy import text

    from contactsync.states import ACTIVE_RUN_STATES, ReviewStatus

    engine = create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        defs = dict(conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'uq_%'")).all())
    engine.dispose()

    def states_in(index: str) -> set[str]:
        return set(re.findall(r"'([a-z_]+)'", defs[index].split(" WHERE ", 1)[1]))

    assert states_in("uq_sync_runs_active_tenant") == {str(s) for s in ACTIVE_RUN_STATES}
    assert states_in("uq_review_items_open_remote") == {str(ReviewStatus.OPEN)}
    for model_index, table in (
        ("uq_sync_runs_active_tenant", "sync_runs"),
        ("uq_review_items_open_remote", "review_items"),
    ):
        index = next(i for i in Base.metadata.tables[table].indexes if i.name == model_index)
        where = str(index.dialect_options["postgresql"]["where"])
        assert set(re.findall(r"'([a-z_]+)'", where)) == states_in(model_index)
