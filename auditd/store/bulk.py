"""Bulk reads and writes shared by every append-heavy table (events, violations, findings, quarantine).

Reads (:func:`read_frame`) turn a result into columns and build the frame through Arrow: handing
SQLAlchemy rows to ``pd.DataFrame`` costs six times the query, pandas probing every row for
namedtuple fields.

Rows go in as DataFrames, turned into plain Python tuples a slice at a time (the tuples of a whole chunk
cost more memory than everything else held), with the values each backend's fastest path takes:
SQLite ``executemany`` (instants as integer microseconds, ids as 16 bytes, columns constant in a slice
written once as literals), PostgreSQL ``COPY`` (straight into the table; into a staging twin and
``INSERT … ON CONFLICT DO NOTHING`` only when a key is already stored).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
from sqlalchemy import Connection, Executable

TIME_COLUMNS = {"ts", "created_at", "first_seen", "decided_at"}


def read_frame(connection: Connection, statement: Executable, columns: Sequence[str]) -> pd.DataFrame:
    """The rows of ``statement`` as a DataFrame with ``columns`` (text as pandas' ``str``, integers with
    gaps as floats, instants as they come), column by column through Arrow."""
    rows = connection.execute(statement).all()
    if not rows:
        return pd.DataFrame(columns=list(columns))
    try:
        table = pa.table(
            {name: pa.array(values) for name, values in zip(columns, zip(*rows, strict=True), strict=True)}
        )
    except (pa.ArrowException, TypeError, ValueError):  # a column of mixed Python types: let pandas infer
        return pd.DataFrame([tuple(r) for r in rows], columns=list(columns))
    text = pd.StringDtype(na_value=np.nan)
    frame: pd.DataFrame = table.to_pandas(types_mapper={pa.string(): text, pa.large_string(): text}.get)
    return frame


def _values(series: pd.Series, column: str, dialect: str) -> list[Any]:
    """One column as plain Python values in the form the backend's bulk path takes, vectorised.

    SQLite: instants as integer microseconds, event ids as 16 bytes, booleans as 0/1. PostgreSQL COPY:
    instants as ISO text in UTC, event ids as hex (uuid input), booleans as they are.
    """
    if column in TIME_COLUMNS:
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


def rows_of(frame: pd.DataFrame, columns: Sequence[str], dialect: str) -> list[tuple[Any, ...]]:
    return list(zip(*(_values(frame[c], c, dialect) for c in columns), strict=True))


def row_slices(frame: pd.DataFrame, columns: Sequence[str], dialect: str) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, len(frame), ROW_SLICE):
        yield rows_of(frame.iloc[start : start + ROW_SLICE], columns, dialect)


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
        same, _ = _constant(part[column]) if column not in TIME_COLUMNS and column != "event_id" else (False, None)
        if same:
            try:
                constants[column] = _literal(_values(part[column].iloc[:1], column, dialect)[0])
                continue
            except TypeError:
                pass
        varying.append(column)
    return varying, constants, rows_of(part, varying, dialect)


def copy_insert(
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


def sqlite_insert(connection: Connection, table: str, columns: Sequence[str], frame: pd.DataFrame) -> int:
    inserted = 0
    for start in range(0, len(frame), ROW_SLICE):
        varying, constants, rows = _split_constants(frame.iloc[start : start + ROW_SLICE], columns, "sqlite")
        names = ", ".join([*varying, *constants])
        values = ", ".join(["?"] * len(varying) + list(constants.values()))
        sql = f"INSERT INTO {table} ({names}) VALUES ({values}) ON CONFLICT DO NOTHING"
        inserted += int(connection.exec_driver_sql(sql, rows).rowcount)
    return inserted


def insert(connection: Connection, table: str, columns: Sequence[str], frame: pd.DataFrame, conflict: str) -> int:
    """Insert ``frame`` into ``table``, skipping rows whose ``conflict`` key is already stored."""
    if frame.empty:
        return 0
    if connection.dialect.name == "postgresql":
        return copy_insert(connection, table, columns, row_slices(frame, columns, "postgresql"), conflict)
    return sqlite_insert(connection, table, columns, frame)
