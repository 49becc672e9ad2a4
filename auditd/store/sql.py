"""Small SQL expressions that differ between SQLite and PostgreSQL, so repositories stay portable."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func, literal_column


def local_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The calendar day of an instant in Japan time (UTC+9, no daylight saving), as text YYYY-MM-DD."""
    if dialect == "postgresql":
        return func.to_char(func.timezone(literal_column("'Asia/Tokyo'"), column), literal_column("'YYYY-MM-DD'"))
    return func.date(column, literal_column("'+9 hours'"))


def local_hour(column: Any, dialect: str) -> ColumnElement[Any]:
    """The hour (0–23) of an instant in Japan time."""
    if dialect == "postgresql":
        return cast(func.extract("hour", func.timezone(literal_column("'Asia/Tokyo'"), column)), Integer)
    return cast(func.strftime(literal_column("'%H'"), column, literal_column("'+9 hours'")), Integer)
