"""Declarative base shared by every model, with the pieces that keep SQLite and PostgreSQL alike.

- A naming convention, so constraints have the same names on both backends and batch migrations
  on SQLite can find them.
- :class:`UTCDateTime`: instants are stored in UTC (``timestamptz`` on PostgreSQL, ISO text on
  SQLite) and always come back timezone-aware. SQLite would otherwise drop the offset silently.
- :class:`MunicipalityScoped`: the ``municipality_code`` column every table carries, so one
  deployment can serve a consortium and a table can later be partitioned by it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, Dialect, MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: How SQLAlchemy writes DATETIME on SQLite; the bulk ingest path writes the same text directly.
SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC, returned aware. Naive values are refused: they are a bug."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: auditd stores instants, give a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


def table_of(model: type[Base]) -> Table:
    """The Core ``Table`` of a mapped class (typed: ``__table__`` is only known as a FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


class MunicipalityScoped:
    """Mixin: the 全国地方公共団体コード of the municipality a row belongs to."""

    municipality_code: Mapped[str] = mapped_column(String(6), nullable=False, sort_order=-100)
