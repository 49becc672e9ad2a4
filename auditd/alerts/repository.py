"""All SQL of alerts and detection runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, delete, func, insert, select, update

from auditd.alerts.models import Alert, DetectionRun, UserDay
from auditd.events.models import IngestBatch
from auditd.store import bulk
from auditd.store.base import table_of

ALERT_COLUMNS = tuple(c.name for c in table_of(Alert).columns)


def existing_fingerprints(connection: Connection, municipality_code: str, fingerprints: Sequence[str]) -> set[str]:
    table = table_of(Alert)
    found: set[str] = set()
    for i in range(0, len(fingerprints), 500):
        stmt = select(table.c.fingerprint).where(
            table.c.municipality_code == municipality_code, table.c.fingerprint.in_(list(fingerprints[i : i + 500]))
        )
        found.update(str(f) for f in connection.execute(stmt).scalars())
    return found


def insert_alerts(connection: Connection, rows: list[dict[str, Any]]) -> int:
    if rows:
        connection.execute(insert(table_of(Alert)), rows)
    return len(rows)


def create_run(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(DetectionRun).values(**values).returning(DetectionRun.id)).scalar_one())


def finish_run(connection: Connection, run_id: int, **values: Any) -> None:
    connection.execute(update(table_of(DetectionRun)).where(DetectionRun.id == run_id).values(**values))


def last_window_end(connection: Connection, municipality_code: str) -> datetime | None:
    table = table_of(DetectionRun)
    stmt = select(func.max(table.c.window_end)).where(
        table.c.municipality_code == municipality_code, table.c.status == "finished"
    )
    return connection.execute(stmt).scalar()


def alerts_frame(
    connection: Connection,
    municipality_code: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    rules: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Alerts whose story ends at or after ``since`` and starts before ``until``, oldest first."""
    table = table_of(Alert)
    stmt = select(*table.columns).where(table.c.municipality_code == municipality_code)
    if since is not None:
        stmt = stmt.where(table.c.end >= since)
    if until is not None:
        stmt = stmt.where(table.c.start < until)
    if rules:
        stmt = stmt.where(table.c.rule.in_(list(rules)))
    return bulk.read_frame(connection, stmt.order_by(table.c.start, table.c.id), ALERT_COLUMNS)


def counts_by_rule(connection: Connection, municipality_code: str) -> dict[str, int]:
    table = table_of(Alert)
    stmt = (
        select(table.c.rule, func.count()).where(table.c.municipality_code == municipality_code).group_by(table.c.rule)
    )
    return {str(rule): int(n) for rule, n in connection.execute(stmt)}


def event_span(connection: Connection, municipality_code: str) -> tuple[datetime, datetime] | None:
    """The first and the last instant of the events that the policy engine has decided."""
    batches = table_of(IngestBatch)
    stmt = select(func.min(batches.c.min_ts), func.max(batches.c.max_ts)).where(
        batches.c.municipality_code == municipality_code, batches.c.decided_version_id.is_not(None)
    )
    first, last = connection.execute(stmt).one()
    return (first, last) if first is not None and last is not None else None


USER_DAY_COLUMNS = tuple(c.name for c in table_of(UserDay).columns if c.name != "municipality_code")


def user_days(connection: Connection, municipality_code: str, first: date, last: date) -> pd.DataFrame:
    """The stored user-days with ``first <= day < last`` (``day`` as a naive midnight)."""
    table = table_of(UserDay)
    stmt = select(*(table.c[c] for c in USER_DAY_COLUMNS)).where(
        table.c.municipality_code == municipality_code, table.c.day >= first, table.c.day < last
    )
    frame = bulk.read_frame(connection, stmt, USER_DAY_COLUMNS)
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def replace_user_days(connection: Connection, municipality_code: str, frame: pd.DataFrame) -> int:
    """Store the user-days of ``frame`` (its days replace what was stored for them)."""
    if frame.empty:
        return 0
    table = table_of(UserDay)
    days = sorted({pd.Timestamp(d).date() for d in frame["day"]})
    connection.execute(delete(table).where(table.c.municipality_code == municipality_code, table.c.day.in_(days)))
    rows = frame[list(USER_DAY_COLUMNS)].assign(day=[pd.Timestamp(d).date() for d in frame["day"]])
    records = [
        {"municipality_code": municipality_code, **{str(k): v for k, v in r.items()}} for r in rows.to_dict("records")
    ]
    connection.execute(insert(table), records)
    return len(records)
