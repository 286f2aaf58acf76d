"""Declarative base and column conventions shared by every table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, DateTime, MetaData, String, Table, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonDoc = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: DateTime(timezone=True),
        dict[str, Any]: JsonDoc,
        list[Any]: JsonDoc,
    }


class TenantScoped:
    """Mixin for every table that holds tenant data: the tenant id is always there to scope queries by."""

    tenant_id: Mapped[str] = mapped_column(String(64), index=True)


def created_at_column() -> Mapped[datetime]:
    return mapped_column(server_default=func.now(), default=utcnow)


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, for statements that go through Core without ORM bookkeeping per row."""
    return cast(Table, model.__table__)
