"""Declarative base shared by every model, with the pieces that keep SQLite and PostgreSQL alike.

- A naming convention, so constraints have the same names on both backends and batch migrations
  on SQLite can find them.
- :class:`UTCDateTime`: instants are stored in UTC (``timestamptz`` on PostgreSQL, ISO text on
  SQLite) and always come back timezone-aware. SQLite would otherwise drop the offset silently.
- :class:`MunicipalityScoped`: the ``municipality_code`` column every table carries, so one
  deployment can serve a consortium and a table can later be partitioned by it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, Dialect, LargeBinary, MetaData, String, Table, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(value: datetime) -> int:
    """Microseconds since 1970-01-01 UTC (how SQLite stores an instant)."""
    delta = value.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value))


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, returned timezone-aware (UTC). Naive values are refused: they are a bug.

    PostgreSQL stores ``timestamptz``. SQLite stores integer microseconds since the epoch: a third of
    the size of ISO text in every row and index that holds it, compared as integers, and free of the
    silent loss of the offset that SQLite's text dates suffer.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: auditd stores instants, give a timezone")
        return to_micros(value) if dialect.name == "sqlite" else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, int):
            return from_micros(value)
        instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


class EventId(TypeDecorator[str]):
    """A 128-bit event id, as the canonical ``8-4-4-4-12`` text in Python.

    Native ``uuid`` on PostgreSQL, a 16-byte BLOB on SQLite (half the size of hex text in the table
    and in every index). The ids are time-ordered (see :func:`collectors.pipeline.event_id`), so the
    primary key grows at its end.
    """

    impl = Uuid(as_uuid=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(LargeBinary(16))
        return dialect.type_descriptor(Uuid(as_uuid=False))

    def process_bind_param(self, value: str | bytes | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        raw = value if isinstance(value, bytes) else bytes.fromhex(value.replace("-", ""))
        if len(raw) != 16:
            raise ValueError(f"an event id has 16 bytes, got {len(raw)}")
        return raw if dialect.name == "sqlite" else str(uuid.UUID(bytes=raw))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, bytes | memoryview):
            return str(uuid.UUID(bytes=bytes(value)))
        return str(uuid.UUID(str(value)))


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
