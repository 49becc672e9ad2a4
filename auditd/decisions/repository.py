"""All SQL about policy versions, decided batches and violations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, case, func, insert, select, update

from auditd.decisions.models import PolicyVersion, Violation
from auditd.events.models import IngestBatch
from auditd.store import bulk
from auditd.store.base import table_of

VIOLATION_COLUMNS = ("municipality_code", "ts", "event_id", "rule", "policy_version_id", "user_id", "evidence",
                     "decided_at")  # fmt: skip


def version_by_digest(connection: Connection, municipality_code: str, digest: str) -> int | None:
    table = table_of(PolicyVersion)
    found = connection.execute(
        select(table.c.id).where(table.c.municipality_code == municipality_code, table.c.digest == digest)
    ).scalar()
    return None if found is None else int(found)


def add_version(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(PolicyVersion).values(**values).returning(PolicyVersion.id)).scalar_one())


def versions(connection: Connection, municipality_code: str) -> list[dict[str, Any]]:
    """Every policy version of the municipality in the order loaded (id, name, valid_from, digest, content)."""
    table = table_of(PolicyVersion)
    stmt = select(table).where(table.c.municipality_code == municipality_code).order_by(table.c.id)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def undecided_batches(connection: Connection, municipality_code: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Ingest batches whose events have not been decided yet, in the order they were stored."""
    table = table_of(IngestBatch)
    stmt = (
        select(table.c.id, table.c.min_ts, table.c.max_ts, table.c.event_count)
        .where(table.c.municipality_code == municipality_code, table.c.decided_version_id.is_(None))
        .where(table.c.event_count > 0)
        .order_by(table.c.id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def mark_decided(connection: Connection, batch_ids: Sequence[int], version_id: int, when: datetime) -> None:
    table = table_of(IngestBatch)
    connection.execute(
        update(table).where(table.c.id.in_(list(batch_ids))).values(decided_version_id=version_id, decided_at=when)
    )


def insert_violations(connection: Connection, frame: pd.DataFrame) -> int:
    """Store violations; one already stored (same event, rule and version) is kept once."""
    return bulk.insert(
        connection, "violations", VIOLATION_COLUMNS, frame, "(municipality_code, ts, event_id, rule, policy_version_id)"
    )


def violations_of_event(
    connection: Connection, municipality_code: str, event_id: str, ts: datetime
) -> list[dict[str, Any]]:
    table = table_of(Violation)
    stmt = select(table).where(
        table.c.municipality_code == municipality_code, table.c.ts == ts, table.c.event_id == event_id
    )
    rows = [dict(row._mapping) for row in connection.execute(stmt)]
    for row in rows:
        row["evidence"] = json.loads(row["evidence"]) if row["evidence"] else {}
    return rows


def counts_by_rule(connection: Connection, municipality_code: str, since: datetime | None = None) -> dict[str, int]:
    table = table_of(Violation)
    stmt = select(table.c.rule, func.count()).where(table.c.municipality_code == municipality_code)
    if since is not None:
        stmt = stmt.where(table.c.ts >= since)
    return {str(rule): int(n) for rule, n in connection.execute(stmt.group_by(table.c.rule))}


def decided_range(connection: Connection, municipality_code: str) -> tuple[int, int]:
    """(batches decided, batches waiting)."""
    table = table_of(IngestBatch)
    decided = func.sum(case((table.c.decided_version_id.is_not(None), 1), else_=0))
    row = connection.execute(
        select(func.count(), decided).where(table.c.municipality_code == municipality_code, table.c.event_count > 0)
    ).one()
    total, done = int(row[0]), int(row[1] or 0)
    return done, total - done
