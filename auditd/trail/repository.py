"""All SQL about the platform trail. There is no update or delete here, by design."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from auditd.trail.models import TrailEntry


def add(connection: Connection, **values: Any) -> None:
    connection.execute(insert(TrailEntry).values(**values))


def recent(
    connection: Connection,
    municipality_code: str,
    *,
    limit: int = 100,
    before: datetime | None = None,
    actor: str | None = None,
) -> list[dict[str, Any]]:
    stmt = select(TrailEntry.__table__).where(TrailEntry.municipality_code == municipality_code)
    if before is not None:
        stmt = stmt.where(TrailEntry.ts < before)
    if actor is not None:
        stmt = stmt.where(TrailEntry.actor == actor)
    stmt = stmt.order_by(TrailEntry.ts.desc(), TrailEntry.id.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]
