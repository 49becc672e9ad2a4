"""All SQL about events, ingest runs and quarantine. Bulk paths work on DataFrames, never ORM rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Integer, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from auditd.events.models import Event, IngestBatch, IngestRun, QuarantinedRecord, Source
from auditd.privacy.models import Subject
from auditd.store.base import table_of
from auditd.store.partitions import ensure_event_partitions, months_present
from auditd.store.sql import local_day, local_hour

#: Column order of the bulk paths (and of the canonical event frame produced by collectors).
EVENT_COLUMNS: tuple[str, ...] = (
    "municipality_code", "event_id", "ts", "source", "system", "user_id", "terminal_id", "session_id",
    "jimu", "action", "screen", "function", "subject_hash", "subject_count", "result", "auth_factors",
    "detail", "seq", "pii_masked", "batch_id", "raw_ref",
)  # fmt: skip
QUARANTINE_COLUMNS: tuple[str, ...] = (
    "municipality_code", "record_key", "run_id", "source", "raw_ref", "reason_code", "reason", "raw_text",
    "created_at",
)  # fmt: skip


def _timestamps_as_text(values: pd.Series, dialect: str) -> np.ndarray:
    """UTC instants as the text each backend stores or parses (vectorised; no per-row datetime objects)."""
    utc = pd.to_datetime(values, utc=True).dt.tz_localize(None).astype("datetime64[us]")
    text = pd.Series(np.datetime_as_string(utc.to_numpy(), unit="us"), dtype="str").str.replace("T", " ")
    if dialect == "postgresql":
        text = text + "+00"
    return text.to_numpy(dtype=object)


def _rows(
    frame: pd.DataFrame, columns: Sequence[str], dialect: str, time_columns: Sequence[str]
) -> list[tuple[Any, ...]]:
    data: dict[str, np.ndarray] = {}
    for column in columns:
        series = frame[column]
        if column in time_columns:
            data[column] = _timestamps_as_text(series, dialect)
        elif series.dtype == bool:
            data[column] = (
                series.to_numpy(dtype=object)
                if dialect == "postgresql"
                else series.to_numpy(dtype=np.int64).astype(object)
            )
        else:
            data[column] = series.astype(object).where(series.notna(), None).to_numpy(dtype=object)
    return list(zip(*(data[c] for c in columns), strict=True))


def _copy_insert(
    connection: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]], conflict: str
) -> int:
    """PostgreSQL: COPY into a temporary twin of ``table``, then INSERT … ON CONFLICT DO NOTHING."""
    raw = connection.connection.driver_connection
    assert raw is not None
    stage = f"_stage_{table}"
    column_list = ", ".join(columns)
    with raw.cursor() as cursor:
        # only the copied columns, no constraints: the target's own constraints apply on INSERT
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "
            f"AS SELECT {column_list} FROM {table} WITH NO DATA"
        )
        with cursor.copy(f"COPY {stage} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {stage} ON CONFLICT {conflict} DO NOTHING"
        )
        inserted = cursor.rowcount
        cursor.execute(f"TRUNCATE {stage}")
    return int(inserted)


def insert_events(connection: Connection, frame: pd.DataFrame) -> int:
    """Store canonical events; ids already stored are skipped. Returns how many were new."""
    if frame.empty:
        return 0
    dialect = connection.dialect.name
    rows = _rows(frame, EVENT_COLUMNS, dialect, ("ts",))
    if dialect == "postgresql":
        ensure_event_partitions(connection, months_present(frame["ts"]))
        return _copy_insert(connection, "events", EVENT_COLUMNS, rows, "(event_id, ts)")
    placeholders = ", ".join("?" for _ in EVENT_COLUMNS)
    result = connection.exec_driver_sql(
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",
        rows,
    )
    return int(result.rowcount)


def insert_quarantine(connection: Connection, frame: pd.DataFrame) -> int:
    """Store quarantined records; the same record quarantined again (same key) is kept once."""
    if frame.empty:
        return 0
    dialect = connection.dialect.name
    rows = _rows(frame, QUARANTINE_COLUMNS, dialect, ("created_at",))
    if dialect == "postgresql":
        return _copy_insert(connection, "quarantine", QUARANTINE_COLUMNS, rows, "(municipality_code, record_key)")
    placeholders = ", ".join("?" for _ in QUARANTINE_COLUMNS)
    result = connection.exec_driver_sql(
        f"INSERT INTO quarantine ({', '.join(QUARANTINE_COLUMNS)}) VALUES ({placeholders}) ON CONFLICT DO NOTHING",
        rows,
    )
    return int(result.rowcount)


def insert_subjects(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Add vault entries for pseudonyms not stored yet (existing ones are left as they are)."""
    if not rows:
        return
    dialect = connection.dialect.name
    statement = (pg_insert(Subject) if dialect == "postgresql" else sqlite_insert(Subject)).on_conflict_do_nothing()
    connection.execute(statement, rows)


def known_subjects(connection: Connection, municipality_code: str, hashes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(hashes), 900):
        chunk = list(hashes[start : start + 900])
        found.update(
            connection.execute(
                select(Subject.subject_hash).where(
                    Subject.municipality_code == municipality_code, Subject.subject_hash.in_(chunk)
                )
            ).scalars()
        )
    return found


# -- runs and batches -------------------------------------------------------------------------------


def create_run(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(IngestRun).values(**values).returning(IngestRun.id)).scalar_one())


def update_run(connection: Connection, run_id: int, **values: Any) -> None:
    connection.execute(update(IngestRun).where(IngestRun.id == run_id).values(**values))


def add_to_run(connection: Connection, run_id: int, **increments: int) -> None:
    """Add to a run's counters in SQL, so the checkpoint and the counts commit with the events."""
    values = {name: getattr(IngestRun, name) + amount for name, amount in increments.items()}
    connection.execute(update(IngestRun).where(IngestRun.id == run_id).values(**values))


def runs_of_input(
    connection: Connection,
    municipality_code: str,
    source: str,
    input_name: str,
    fingerprint: str,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Recent runs of the same source that read the same path or a file with the same head, newest first."""
    table = table_of(IngestRun)
    stmt = (
        select(table)
        .where(
            table.c.municipality_code == municipality_code,
            table.c.source == source,
            (table.c.input == input_name) | (table.c.fingerprint == fingerprint),
        )
        .order_by(table.c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def create_batch(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(IngestBatch).values(**values).returning(IngestBatch.id)).scalar_one())


def update_batch(connection: Connection, batch_id: int, **values: Any) -> None:
    connection.execute(update(IngestBatch).where(IngestBatch.id == batch_id).values(**values))


def touch_source(
    connection: Connection,
    municipality_code: str,
    name: str,
    profile: str,
    system: str | None,
    last_event_ts: datetime | None,
    now: datetime,
) -> None:
    """Register the source on first sight and move its 'last event' mark forward."""
    table = table_of(Source)
    dialect = connection.dialect.name
    values = {
        "municipality_code": municipality_code,
        "name": name,
        "profile": profile,
        "system": system,
        "last_event_ts": last_event_ts,
        "created_at": now,
    }
    stmt = (pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)).values(**values)
    stmt = stmt.on_conflict_do_nothing(index_elements=["municipality_code", "name"])
    connection.execute(stmt)
    if last_event_ts is not None:
        connection.execute(
            update(table)
            .where(table.c.municipality_code == municipality_code, table.c.name == name)
            .where((table.c.last_event_ts.is_(None)) | (table.c.last_event_ts < last_event_ts))
            .values(last_event_ts=last_event_ts)
        )


# -- reads ------------------------------------------------------------------------------------------


def count_events(connection: Connection, municipality_code: str) -> int:
    return int(
        connection.execute(
            select(func.count()).select_from(Event).where(Event.municipality_code == municipality_code)
        ).scalar_one()
    )


def events_frame(
    connection: Connection,
    municipality_code: str,
    start: datetime,
    end: datetime,
    columns: Sequence[str] = EVENT_COLUMNS,
) -> pd.DataFrame:
    """Events with ``start <= ts < end`` as a DataFrame (``ts`` tz-aware UTC), for steps that work in windows."""
    table = table_of(Event)
    stmt = select(*(table.c[c] for c in columns)).where(
        table.c.municipality_code == municipality_code, table.c.ts >= start, table.c.ts < end
    )
    frame = pd.DataFrame(connection.execute(stmt).all(), columns=list(columns))
    if "ts" in frame:
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def delete_empty_batch(connection: Connection, batch_id: int) -> None:
    """A chunk whose records were all stored before leaves no batch behind."""
    connection.execute(table_of(IngestBatch).delete().where(IngestBatch.id == batch_id))


# -- aggregates for the dashboard and reports -----------------------------------------------------------


def daily_counts(connection: Connection, municipality_code: str, since: datetime) -> list[tuple[str, int]]:
    """Events per Japan-time day since ``since``."""
    day = local_day(Event.ts, connection.dialect.name).label("day")
    stmt = (
        select(day, func.count())
        .where(Event.municipality_code == municipality_code, Event.ts >= since)
        .group_by(day)
        .order_by(day)
    )
    return [(str(d), int(n)) for d, n in connection.execute(stmt)]


def hourly_counts(connection: Connection, municipality_code: str, since: datetime) -> list[tuple[int, int]]:
    hour = local_hour(Event.ts, connection.dialect.name).label("hour")
    stmt = (
        select(hour, func.count())
        .where(Event.municipality_code == municipality_code, Event.ts >= since)
        .group_by(hour)
        .order_by(hour)
    )
    return [(int(h), int(n)) for h, n in connection.execute(stmt)]


def counts_by_system(connection: Connection, municipality_code: str, since: datetime) -> list[tuple[str, int]]:
    stmt = (
        select(Event.system, func.count())
        .where(Event.municipality_code == municipality_code, Event.ts >= since)
        .group_by(Event.system)
        .order_by(func.count().desc())
    )
    return [(str(s), int(n)) for s, n in connection.execute(stmt)]


def event_totals(connection: Connection, municipality_code: str, since: datetime) -> dict[str, int]:
    """Totals over all time, and distinct operators / residents / masked records since ``since``."""
    total = count_events(connection, municipality_code)
    recent = connection.execute(
        select(
            func.count(),
            func.count(func.distinct(Event.user_id)),
            func.count(func.distinct(Event.subject_hash)),
            func.coalesce(func.sum(func.cast(Event.pii_masked, Integer)), 0),
        ).where(Event.municipality_code == municipality_code, Event.ts >= since)
    ).one()
    return {
        "total": total,
        "recent": int(recent[0]),
        "users": int(recent[1]),
        "subjects": int(recent[2]),
        "masked": int(recent[3]),
    }


def latest_event_ts(connection: Connection, municipality_code: str) -> datetime | None:
    stmt = select(func.max(Event.ts)).where(Event.municipality_code == municipality_code)
    value: datetime | None = connection.execute(stmt).scalar()
    return value


def list_sources(connection: Connection, municipality_code: str) -> list[dict[str, Any]]:
    stmt = select(table_of(Source)).where(Source.municipality_code == municipality_code).order_by(Source.name)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def recent_runs(connection: Connection, municipality_code: str, limit: int = 10) -> list[dict[str, Any]]:
    stmt = (
        select(table_of(IngestRun))
        .where(IngestRun.municipality_code == municipality_code)
        .order_by(IngestRun.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def quarantine_by_reason(connection: Connection, municipality_code: str) -> list[tuple[str, str, int]]:
    stmt = (
        select(QuarantinedRecord.source, QuarantinedRecord.reason_code, func.count())
        .where(QuarantinedRecord.municipality_code == municipality_code)
        .group_by(QuarantinedRecord.source, QuarantinedRecord.reason_code)
        .order_by(func.count().desc())
    )
    return [(str(s), str(r), int(n)) for s, r, n in connection.execute(stmt)]


def quarantine_count(connection: Connection, municipality_code: str) -> int:
    return int(
        connection.execute(
            select(func.count())
            .select_from(QuarantinedRecord)
            .where(QuarantinedRecord.municipality_code == municipality_code)
        ).scalar_one()
    )
