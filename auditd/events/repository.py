"""All SQL about events, ingest runs and quarantine. Bulk paths work on DataFrames, never ORM rows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import Connection, Integer, String, cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from auditd.events.models import Event, IngestBatch, IngestRun, QuarantinedRecord, Source
from auditd.privacy.models import Subject
from auditd.store.base import table_of
from auditd.store.partitions import ensure_event_partitions, months_present
from auditd.store.sql import local_day, local_hour

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
_TIME_COLUMNS = frozenset({"ts", "created_at", "first_seen"})


def _values(series: pd.Series, column: str, dialect: str) -> list[Any]:
    """One column as plain Python values in the form the backend's bulk path takes, vectorised.

    SQLite: instants as integer microseconds, event ids as 16 bytes, booleans as 0/1. PostgreSQL COPY:
    instants as ISO text in UTC, event ids as hex (uuid input), booleans as they are.
    """
    if column in _TIME_COLUMNS:
        instants = pd.to_datetime(series, utc=True).astype("datetime64[us, UTC]")
        if dialect == "postgresql":
            text = pd.Series(np.datetime_as_string(instants.dt.tz_localize(None).to_numpy(), unit="us"), dtype="str")
            return (text.str.replace("T", " ") + "+00").tolist()
        return [int(v) for v in instants.astype("int64").tolist()]
    if column == "event_id" and dialect == "postgresql":
        return [value.hex() for value in series.tolist()]
    if series.dtype == bool:
        return series.tolist() if dialect == "postgresql" else series.astype("int64").tolist()
    values: list[Any] = series.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]
    return values


#: Rows turned into Python tuples at a time: the tuples of a whole chunk would cost more memory than
#: everything else the pipeline holds.
ROW_SLICE = 10_000


def _rows(frame: pd.DataFrame, columns: Sequence[str], dialect: str) -> list[tuple[Any, ...]]:
    return list(zip(*(_values(frame[c], c, dialect) for c in columns), strict=True))


def row_slices(frame: pd.DataFrame, columns: Sequence[str], dialect: str) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, len(frame), ROW_SLICE):
        yield _rows(frame.iloc[start : start + ROW_SLICE], columns, dialect)


def _literal(value: Any) -> str:
    """A value as an SQL literal (only types the bulk paths produce: None, int, bool, str)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no literal for {type(value).__name__}")


def _constant(series: pd.Series) -> tuple[bool, Any]:
    """Whether every value of the slice is the same (a NULL counts as a value), and that value."""
    if series.empty:
        return False, None
    missing = series.isna()
    if missing.all():
        return True, None
    if missing.any():
        return False, None
    first = series.iloc[0]
    if not isinstance(first, str | int | bool | np.integer | np.bool_):
        return False, None
    return bool((series == first).all()), first


def _split_constants(
    part: pd.DataFrame, columns: Sequence[str], dialect: str
) -> tuple[list[str], dict[str, str], list[tuple[Any, ...]]]:
    """Columns that vary (bound per row) and columns constant in this slice (written once as literals:
    the municipality, the source, the batch, and often several NULL columns, a third of the binding)."""
    varying: list[str] = []
    constants: dict[str, str] = {}
    for column in columns:
        same, _ = _constant(part[column]) if column not in _TIME_COLUMNS and column != "event_id" else (False, None)
        if same:
            try:
                constants[column] = _literal(_values(part[column].iloc[:1], column, dialect)[0])
                continue
            except TypeError:
                pass
        varying.append(column)
    return varying, constants, _rows(part, varying, dialect)


def _copy_insert(
    connection: Connection, table: str, columns: Sequence[str], slices: Iterable[list[tuple[Any, ...]]], conflict: str
) -> int:
    """PostgreSQL: COPY straight into ``table`` when nothing in the batch is stored yet (new log lines:
    the usual case); if a key is already there, undo that attempt (a savepoint) and COPY into a
    temporary twin instead, then INSERT … ON CONFLICT DO NOTHING."""
    raw = connection.connection.driver_connection
    assert raw is not None
    rows = [row for part in slices for row in part]
    column_list = ", ".join(columns)
    with raw.cursor() as cursor:
        cursor.execute("SAVEPOINT auditd_direct_copy")
        try:
            with cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT auditd_direct_copy")
        else:
            cursor.execute("RELEASE SAVEPOINT auditd_direct_copy")
            return len(rows)
        stage = f"_stage_{table}"
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


def _sqlite_insert(connection: Connection, table: str, columns: Sequence[str], frame: pd.DataFrame) -> int:
    inserted = 0
    for start in range(0, len(frame), ROW_SLICE):
        varying, constants, rows = _split_constants(frame.iloc[start : start + ROW_SLICE], columns, "sqlite")
        names = ", ".join([*varying, *constants])
        values = ", ".join(["?"] * len(varying) + list(constants.values()))
        sql = f"INSERT INTO {table} ({names}) VALUES ({values}) ON CONFLICT DO NOTHING"
        inserted += int(connection.exec_driver_sql(sql, rows).rowcount)
    return inserted


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
        slices = row_slices(ordered, EVENT_COLUMNS, dialect)
        return _copy_insert(connection, "events", EVENT_COLUMNS, slices, "(ts, event_id)")
    return _sqlite_insert(connection, "events", EVENT_COLUMNS, ordered)


def insert_quarantine(connection: Connection, frame: pd.DataFrame) -> int:
    """Store quarantined records; the same record quarantined again (same key) is kept once."""
    if frame.empty:
        return 0
    dialect = connection.dialect.name
    if dialect == "postgresql":
        slices = row_slices(frame, QUARANTINE_COLUMNS, dialect)
        return _copy_insert(connection, "quarantine", QUARANTINE_COLUMNS, slices, "(municipality_code, record_key)")
    return _sqlite_insert(connection, "quarantine", QUARANTINE_COLUMNS, frame)


def insert_subjects(connection: Connection, frame: pd.DataFrame) -> None:
    """Add vault entries for pseudonyms not stored yet (existing ones are left as they are)."""
    if frame.empty:
        return
    dialect = connection.dialect.name
    if dialect == "postgresql":
        slices = row_slices(frame, SUBJECT_COLUMNS, dialect)
        _copy_insert(connection, "subjects", SUBJECT_COLUMNS, slices, "(municipality_code, subject_hash)")
    else:
        _sqlite_insert(connection, "subjects", SUBJECT_COLUMNS, frame)


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
