"""All SQL about events, ingest runs and quarantine. Bulk paths work on DataFrames, never ORM rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    LargeBinary,
    String,
    cast,
    func,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from auditd.events.models import SESSION_ACTIONS_SQL, Event, IngestBatch, IngestRun, QuarantinedRecord, Source
from auditd.privacy.models import Subject
from auditd.store import bulk
from auditd.store.base import table_of
from auditd.store.partitions import ensure_event_partitions, months_present
from auditd.store.sql import local_day

#: Column order of the bulk paths (and of the canonical event frame produced by collectors).
EVENT_COLUMNS: tuple[str, ...] = (
    "municipality_code", "ts", "event_id", "source", "system", "user_id", "terminal_id", "session_id",
    "jimu", "action", "screen", "function", "subject_hash", "subject_count", "result", "auth_factors",
    "detail", "seq", "pii_masked", "batch_id", "raw_pos",
)  # fmt: skip
QUARANTINE_COLUMNS: tuple[str, ...] = (
    "municipality_code", "record_key", "run_id", "source", "raw_ref", "reason_code", "reason", "raw_text",
    "created_at",
)  # fmt: skip
SUBJECT_COLUMNS: tuple[str, ...] = ("municipality_code", "subject_hash", "sealed", "is_mynumber", "first_seen")


def insert_events(connection: Connection, frame: pd.DataFrame) -> int:
    """Store canonical events; ids already stored are skipped. Returns how many were new.

    ``event_id`` is 16 bytes (see ``collectors.pipeline.RecordIdentity``). Rows go in sorted by resident:
    the resident index then takes each batch in one sweep instead of jumping across the whole tree,
    which keeps ingest fast once the store is larger than memory.
    """
    if frame.empty:
        return 0
    dialect = connection.dialect.name
    ordered = frame.sort_values("subject_hash", na_position="last", kind="stable")
    if dialect == "postgresql":
        ensure_event_partitions(connection, months_present(frame["ts"]))
        slices = bulk.row_slices(ordered, EVENT_COLUMNS, dialect)
        return bulk.copy_insert(connection, "events", EVENT_COLUMNS, slices, "(municipality_code, ts, event_id)")
    return bulk.sqlite_insert(connection, "events", EVENT_COLUMNS, ordered)


def insert_quarantine(connection: Connection, frame: pd.DataFrame) -> int:
    """Store quarantined records; the same record quarantined again (same key) is kept once."""
    if frame.empty:
        return 0
    dialect = connection.dialect.name
    if dialect == "postgresql":
        slices = bulk.row_slices(frame, QUARANTINE_COLUMNS, dialect)
        return bulk.copy_insert(connection, "quarantine", QUARANTINE_COLUMNS, slices, "(municipality_code, record_key)")
    return bulk.sqlite_insert(connection, "quarantine", QUARANTINE_COLUMNS, frame)


def insert_subjects(connection: Connection, frame: pd.DataFrame) -> None:
    """Add vault entries for pseudonyms not stored yet (existing ones are left as they are)."""
    if frame.empty:
        return
    dialect = connection.dialect.name
    if dialect == "postgresql":
        slices = bulk.row_slices(frame, SUBJECT_COLUMNS, dialect)
        bulk.copy_insert(connection, "subjects", SUBJECT_COLUMNS, slices, "(municipality_code, subject_hash)")
    else:
        bulk.sqlite_insert(connection, "subjects", SUBJECT_COLUMNS, frame)


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
    frame = bulk.read_frame(connection, stmt, columns)
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


def raw_ref_column(dialect: str) -> Any:
    """``<input>:<position>`` of an event (the file and line, or the stream and message number),
    composed from its batch's run; select it with :func:`with_raw_ref`."""
    runs = table_of(IngestRun)
    events = table_of(Event)
    return (runs.c.input + ":" + cast(events.c.raw_pos, String)).label("raw_ref")


def with_raw_ref(connection: Connection, stmt: Any) -> Any:
    """Add the join that gives each event its ``raw_ref`` to a SELECT over ``events``."""
    events, batches, runs = table_of(Event), table_of(IngestBatch), table_of(IngestRun)
    joined = events.join(batches, batches.c.id == events.c.batch_id).join(runs, runs.c.id == batches.c.run_id)
    return stmt.add_columns(raw_ref_column(connection.dialect.name)).select_from(joined)


def raw_refs(connection: Connection, municipality_code: str) -> list[str]:
    """Every event's ``raw_ref``, sorted (for checks and exports)."""
    events = table_of(Event)
    stmt = with_raw_ref(connection, select().where(events.c.municipality_code == municipality_code))
    return sorted(str(r) for r in connection.execute(stmt).scalars())


def auth_events(
    connection: Connection, municipality_code: str, start: datetime, end: datetime, *, user_id: str | None = None
) -> pd.DataFrame:
    """Logins and logouts with ``start <= ts < end`` (of one account, if given): the sessions operations
    are joined to."""
    events = table_of(Event)
    columns = ["ts", "user_id", "terminal_id", "session_id", "action", "result", "auth_factors"]
    stmt = select(*raw_columns(connection.dialect.name, columns)).where(
        events.c.municipality_code == municipality_code,
        events.c.ts >= start,
        events.c.ts < end,
        text(SESSION_ACTIONS_SQL),  # as the partial index says it, so the index is used
    )
    if user_id is not None:
        stmt = stmt.where(events.c.user_id == user_id)
    return frame_of(connection, stmt, columns)


#: Columns the policy engine and detectors read.
DECISION_COLUMNS = ("event_id", "ts", "user_id", "terminal_id", "session_id", "system", "jimu", "action",
                    "subject_hash", "subject_count", "auth_factors", "result", "batch_id", "raw_pos")  # fmt: skip


def raw_columns(dialect: str, names: Sequence[str]) -> list[Any]:
    """Columns selected without per-row type conversion: instants as integer microseconds and ids as
    16 bytes on both backends, turned into pandas types in one vectorised step by :func:`frame_of`."""
    events = table_of(Event)
    columns: list[Any] = []
    for name in names:
        column = events.c[name]
        if name == "ts":
            micros: Any = (
                type_coerce(column, BigInteger())
                if dialect == "sqlite"
                else cast(func.floor(func.extract("epoch", column) * 1_000_000), BigInteger())
            )
            columns.append(micros.label("ts"))
        elif name == "event_id":
            raw: Any = type_coerce(column, LargeBinary()) if dialect == "sqlite" else func.uuid_send(column)
            columns.append(raw.label("event_id"))
        else:
            columns.append(column)
    return columns


def frame_of(connection: Connection, statement: Any, names: Sequence[str]) -> pd.DataFrame:
    frame = bulk.read_frame(connection, statement, names)
    if "ts" in frame:
        frame["ts"] = pd.to_datetime(frame["ts"].astype("int64"), unit="us", utc=True)
    return frame


def events_of_batches(
    connection: Connection,
    municipality_code: str,
    batch_ids: Sequence[int],
    first: datetime,
    last: datetime,
    columns: Sequence[str] = DECISION_COLUMNS,
) -> pd.DataFrame:
    """Events of the given ingest batches (their time range narrows the scan to the primary key)."""
    events = table_of(Event)
    stmt = select(*raw_columns(connection.dialect.name, columns)).where(
        events.c.municipality_code == municipality_code,
        events.c.ts >= first,
        events.c.ts <= last,
        events.c.batch_id.in_(list(batch_ids)),
    )
    return frame_of(connection, stmt, columns)


def event_by_id(
    connection: Connection,
    municipality_code: str,
    event_id: str,
    millisecond: int,
    columns: Sequence[str] = DECISION_COLUMNS,
) -> pd.DataFrame:
    """One event by id: its id names its millisecond, so the lookup is a narrow primary-key range."""
    events = table_of(Event)
    start = datetime.fromtimestamp(millisecond / 1000, UTC)
    stmt = select(*raw_columns(connection.dialect.name, columns)).where(
        events.c.municipality_code == municipality_code,
        events.c.ts >= start,
        events.c.ts < start + timedelta(milliseconds=1),
        events.c.event_id == event_id,
    )
    return frame_of(connection, stmt, columns)
