"""All SQL about the reports made."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select

from auditd.reports.models import ReportRun
from auditd.store.base import table_of

#: What a listing shows (everything but the file).
LISTED = ("id", "kind", "period_start", "period_end", "format", "title", "trigger", "requested_by", "created_at")
LISTED_ALL = (*LISTED, "size", "sha256", "subject_hash", "summary")


def add(connection: Connection, **values: Any) -> int:
    table = table_of(ReportRun)
    return int(connection.execute(insert(table).returning(table.c.id), [values]).scalar_one())


def runs(
    connection: Connection,
    municipality_code: str,
    *,
    kinds: tuple[str, ...] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Reports made, newest first, without their files."""
    table = table_of(ReportRun)
    stmt = select(*(table.c[name] for name in LISTED_ALL)).where(table.c.municipality_code == municipality_code)
    if kinds is not None:
        stmt = stmt.where(table.c.kind.in_(kinds))
    stmt = stmt.order_by(table.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def run(connection: Connection, municipality_code: str, run_id: int, *, content: bool = False) -> dict[str, Any] | None:
    table = table_of(ReportRun)
    columns = [table.c[name] for name in LISTED_ALL] + ([table.c.content] if content else [])
    stmt = select(*columns).where(table.c.municipality_code == municipality_code, table.c.id == run_id)
    found = connection.execute(stmt).first()
    return None if found is None else dict(found._mapping)


def exists(connection: Connection, municipality_code: str, kind: str, start: date, end: date, fmt: str) -> bool:
    """Whether a report of this kind, period and format was already made (the schedule's catch-up test)."""
    table = table_of(ReportRun)
    stmt = select(table.c.id).where(
        table.c.municipality_code == municipality_code,
        table.c.kind == kind,
        table.c.period_start == start,
        table.c.period_end == end,
        table.c.format == fmt,
    )
    return connection.execute(stmt.limit(1)).first() is not None
