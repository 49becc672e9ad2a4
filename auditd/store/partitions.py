"""Monthly range partitions of ``events`` on PostgreSQL, created as data arrives.

Months are Japan months (UTC+9, no daylight saving), so a fiscal-year or monthly report reads whole
partitions. On SQLite these functions do nothing: one file holds everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd
from sqlalchemy import Connection, text

JST = timezone(timedelta(hours=9), "JST")
PARTITION_PREFIX = "events_p"


def month_start(value: datetime | date) -> date:
    if isinstance(value, datetime):
        value = value.astimezone(JST).date() if value.tzinfo else value.date()
    return value.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARTITION_PREFIX}{month.year:04d}{month.month:02d}"


def months_between(first: datetime, last: datetime) -> list[date]:
    """Every month (Japan time) from ``first`` to ``last`` inclusive."""
    months, month, end = [], month_start(first), month_start(last)
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def months_present(timestamps: pd.Series) -> list[date]:
    """The distinct Japan months of a column of instants (vectorised)."""
    local = pd.to_datetime(timestamps, utc=True).dt.tz_convert(JST).dt.tz_localize(None)
    starts = local.dt.to_period("M").dropna().unique()
    return sorted(period.start_time.date() for period in starts)


def ensure_event_partitions(connection: Connection, months: Iterable[date]) -> list[str]:
    """Create the partitions of ``events`` for ``months`` that do not exist yet; returns those created."""
    # No in-process cache: a partition created in a transaction that rolls back must not be
    # remembered, and one catalogue query per stored batch costs nothing.
    if connection.dialect.name != "postgresql":
        return []
    wanted = {partition_name(m): m for m in months}
    existing = set(list_event_partitions(connection))
    created = []
    for name, month in sorted(wanted.items()):
        if name in existing:
            continue
        start = datetime.combine(month, datetime.min.time(), JST).astimezone(UTC)
        end = datetime.combine(next_month(month), datetime.min.time(), JST).astimezone(UTC)
        connection.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
        created.append(name)
    return created


def list_event_partitions(connection: Connection) -> list[str]:
    if connection.dialect.name != "postgresql":
        return []
    return sorted(
        connection.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'"
            )
        ).scalars()
    )
