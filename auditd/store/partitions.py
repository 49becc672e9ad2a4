"""Monthly range partitions of ``events`` on PostgreSQL, created as data arrives.

Months are Japan months (UTC+9, no daylight saving), so a fiscal-year or monthly report reads whole
partitions. On SQLite these functions do nothing: one file holds everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd
from sqlalchemy import Connection, text

from auditd.errors import Conflict

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
    archived = set(detached_partitions(connection)) & set(wanted) if set(wanted) - existing else set()
    if archived:  # CREATE … IF NOT EXISTS would do nothing and the insert fail with a bare "no partition"
        raise Conflict(
            f"events of an archived month arrived ({', '.join(sorted(archived))} was detached by `auditd db archive`)",
            hint="load the month back with `auditd db restore-archive FILE` before storing events of it",
        )
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


def months_ahead(today: date, ahead: int) -> list[date]:
    """The Japan month of ``today`` and the ``ahead`` months after it."""
    months, month = [], month_start(today)
    for _ in range(ahead + 1):
        months.append(month)
        month = next_month(month)
    return months


def ensure_partitions_ahead(connection: Connection, ahead: int, now: datetime | None = None) -> list[str]:
    """Create the partitions of this Japan month and the ``ahead`` next ones (PostgreSQL; nothing on
    SQLite). Returns those created: empty when they all exist, so running it again changes nothing.

    Creating a partition takes a lock on ``events`` that waits for running ingests; doing it days
    ahead, from a nightly job, keeps that out of the first ingest of a month. A month whose partition
    was detached by ``auditd db archive`` is never re-created here (it is in the past).
    """
    instant = now or datetime.now(UTC)
    return ensure_event_partitions(connection, months_ahead(instant.astimezone(JST).date(), ahead))


def detached_partitions(connection: Connection) -> list[str]:
    """Tables named like a partition of ``events`` that are no longer attached (archived months)."""
    if connection.dialect.name != "postgresql":
        return []
    return sorted(
        connection.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname ~ '^events_p[0-9]{6}$' "
                "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)"
            )
        ).scalars()
    )


def missing_partition_indexes(connection: Connection) -> list[tuple[str, str]]:
    """(partition, index of ``events``) for every index of ``events`` a partition lacks (or holds invalid).

    The indexes of ``events`` are partitioned indexes: PostgreSQL creates each on every partition,
    including one made later, and attaches it. This is the check that it did (an empty list: all there).
    """
    if connection.dialect.name != "postgresql":
        return []
    rows = connection.execute(
        text(
            "SELECT part.relname, pidx.relname FROM pg_inherits pt "
            "JOIN pg_class part ON part.oid = pt.inhrelid "
            "JOIN pg_index x ON x.indrelid = pt.inhparent "
            "JOIN pg_class pidx ON pidx.oid = x.indexrelid "
            "WHERE pt.inhparent = 'events'::regclass AND NOT EXISTS ("
            "  SELECT 1 FROM pg_inherits ii JOIN pg_index ci ON ci.indexrelid = ii.inhrelid "
            "  WHERE ii.inhparent = x.indexrelid AND ci.indrelid = part.oid AND ci.indisvalid) "
            "ORDER BY 1, 2"
        )
    ).all()
    return [(str(r[0]), str(r[1])) for r in rows]


def partition_bounds(month: date) -> tuple[datetime, datetime]:
    """The instants (UTC) where a Japan month starts and the next one starts."""
    start = datetime.combine(month, datetime.min.time(), JST).astimezone(UTC)
    end = datetime.combine(next_month(month), datetime.min.time(), JST).astimezone(UTC)
    return start, end


def month_of_partition(name: str) -> date:
    if not (name.startswith(PARTITION_PREFIX) and len(name) == len(PARTITION_PREFIX) + 6 and name[-6:].isdigit()):
        raise ValueError(f"{name!r} is not a partition of events")
    return date(int(name[-6:-2]), int(name[-2:]), 1)
