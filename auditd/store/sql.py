"""Small SQL expressions that differ between SQLite and PostgreSQL, so repositories stay portable.

On SQLite instants are integer microseconds since the epoch (see :class:`auditd.store.base.UTCDateTime`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, cast, func, literal_column, type_coerce


def _seconds(column: Any) -> ColumnElement[Any]:
    """Whole seconds since the epoch of a SQLite instant column (integer microseconds)."""
    return type_coerce(column, BigInteger) // 1_000_000


def local_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The calendar day of an instant in Japan time (UTC+9, no daylight saving), as text YYYY-MM-DD."""
    if dialect == "postgresql":
        return func.to_char(func.timezone(literal_column("'Asia/Tokyo'"), column), literal_column("'YYYY-MM-DD'"))
    return func.date(_seconds(column), literal_column("'unixepoch'"), literal_column("'+9 hours'"))


def local_hour(column: Any, dialect: str) -> ColumnElement[Any]:
    """The hour (0–23) of an instant in Japan time."""
    if dialect == "postgresql":
        return cast(func.extract("hour", func.timezone(literal_column("'Asia/Tokyo'"), column)), Integer)
    local = func.strftime(
        literal_column("'%H'"), _seconds(column), literal_column("'unixepoch'"), literal_column("'+9 hours'")
    )
    return cast(local, Integer)
