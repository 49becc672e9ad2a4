"""Rollups of events maintained at ingest: ``event_hours`` and ``account_days``.

A year of a city's events (tens of millions) is summarised from these small tables instead of being
scanned. Ingest adds each batch to them in the transaction that stores it
(:func:`add_events`, called by ``collectors.pipeline.Ingestor.commit_chunk``), counting only the rows
that batch stored, so a file read again adds nothing. :func:`rebuild_rollups` recomputes a range from
``events`` (a store older than the rollups, a restore, or a doubt).

Days and hours are Japan time (UTC+9, no daylight saving), as :func:`auditd.store.sql.local_day`
computes them in SQL. ``jimu`` and ``factors`` that an event leaves NULL are ``''`` here, so the
primary keys can hold them. ``factors`` is the event's ``auth_factors`` with its parts sorted and
comma-separated: mapped profiles already store it so (``PW+VEIN`` → ``password,vein``), but a
profile that copies a column as it is may not.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    Date,
    Integer,
    Table,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    type_coerce,
)

from auditd.events.models import SESSION_ACTIONS_SQL, AccountDay, Event, EventHour
from auditd.store import bulk
from auditd.store.base import table_of
from auditd.store.sql import local_day, local_hour

HOUR_KEY: tuple[str, ...] = (
    "municipality_code", "day", "hour", "source", "system", "jimu", "action", "result", "factors",
)  # fmt: skip
HOUR_FIGURES: tuple[str, ...] = ("events", "subjects", "masked")
ACCOUNT_KEY: tuple[str, ...] = ("municipality_code", "day", "user_id")
ACCOUNT_FIGURES: tuple[str, ...] = (
    "events", "outputs", "subjects", "logins", "strong_logins", "auth_events", "first_ts", "last_ts",
)  # fmt: skip
SESSION_ACTIONS = ("login", "logout")
OUTPUT_ACTIONS = ("print", "export")
#: Rows per upsert statement: 12 columns × 500 stays far below SQLite's 32,766 bound values.
UPSERT_ROWS = 500

_JST = timedelta(hours=9)  # Japan has no daylight saving; auditd.store.sql.local_day says the same
_MICROS_JST = 9 * 3600 * 1_000_000
_MICROS_DAY = 86_400 * 1_000_000
_MICROS_HOUR = 3600 * 1_000_000
_EPOCH_DAY = date(1970, 1, 1)
_FACTOR_PARTS = re.compile(r"[,+]")
_ROWCOUNT = {"preserve_rowcount": True}  # SQLAlchemy keeps an INSERT's row count only when asked


def canonical_factors(text: str | None) -> str:
    """``auth_factors`` as the rollups key it: parts (split on ``,`` or ``+``) sorted, once each;
    ``''`` for none."""
    if not text:
        return ""
    return ",".join(sorted({p.strip() for p in _FACTOR_PARTS.split(text) if p.strip()}))


# -- aggregating a batch ------------------------------------------------------------------------------


def strong_factors(canonical: str) -> bool:
    """Whether canonical factors (:func:`canonical_factors`) name two factors or more."""
    return len([p for p in canonical.split(",") if p]) >= 2


def aggregate(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rollup rows of a frame of events (``ts`` tz-aware or integer microseconds since the epoch):
    ``(event_hours rows, account_days rows)``, each with its key and figure columns, in key order.

    Ingest calls this for every chunk, so it works on integer codes: each key column is factorised
    (fast on the pipeline's string columns), the codes combined into one group number per row, and
    the figures summed with ``bincount``. A pandas ``groupby`` over nine text columns cost ten times more.
    """
    if events.empty:
        return (
            pd.DataFrame(columns=[*HOUR_KEY, *HOUR_FIGURES]),
            pd.DataFrame(columns=[*ACCOUNT_KEY, *ACCOUNT_FIGURES]),
        )
    ts = events["ts"]
    if pd.api.types.is_integer_dtype(ts):
        micros = ts.to_numpy(dtype=np.int64)
    else:
        micros = pd.to_datetime(ts, utc=True).astype("datetime64[us, UTC]").astype("int64").to_numpy()
    local = micros + _MICROS_JST
    action = events["action"]
    columns: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "municipality_code": _codes(events["municipality_code"]),
        "day": _codes(pd.Series(local // _MICROS_DAY)),
        "hour": _codes(pd.Series((local // _MICROS_HOUR) % 24)),
        "source": _codes(events["source"]),
        "system": _codes(events["system"]),
        "jimu": _codes(events["jimu"]),
        "action": _codes(action),
        "result": _codes(events["result"]),
        "factors": _factor_codes(events["auth_factors"]),
        "user_id": _codes(events["user_id"]),
    }
    # residents touched: a named resident, or the many an output names in its count (a bulk print has no
    # single subject); a login, with no subject and the default count of one, touches nobody
    counts = pd.to_numeric(events["subject_count"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    has_subject = events["subject_hash"].notna().to_numpy() | (counts > 1)
    subjects = np.where(has_subject, counts, 0)

    group, first = _groups([columns[c] for c in HOUR_KEY])
    hours = _key_frame(columns, HOUR_KEY, first)
    hours["events"] = np.bincount(group, minlength=len(first))
    hours["subjects"] = _sums(group, subjects, len(first))
    hours["masked"] = _sums(group, events["pii_masked"].astype(bool).to_numpy(dtype=np.int64), len(first))

    group, first = _groups([columns[c] for c in ACCOUNT_KEY])
    accounts = _key_frame(columns, ACCOUNT_KEY, first)
    codes, distinct = columns["action"]
    outputs = np.isin(distinct, OUTPUT_ACTIONS)[codes].astype(np.int64)
    result_codes, results = columns["result"]
    logins = ((distinct == "login")[codes] & (results == "success")[result_codes]).astype(np.int64)
    factor_codes, factors = columns["factors"]
    strong = logins * np.array([strong_factors(str(f)) for f in factors], dtype=np.int64)[factor_codes]
    auth = np.isin(distinct, SESSION_ACTIONS)[codes].astype(np.int64)
    accounts["events"] = np.bincount(group, minlength=len(first))
    accounts["outputs"] = _sums(group, outputs, len(first))
    accounts["subjects"] = _sums(group, subjects, len(first))
    accounts["logins"] = _sums(group, logins, len(first))
    accounts["strong_logins"] = _sums(group, strong, len(first))
    accounts["auth_events"] = _sums(group, auth, len(first))
    spans = pd.Series(micros).groupby(group).agg(["min", "max"])
    accounts["first_ts"] = spans["min"].to_numpy(dtype=np.int64)
    accounts["last_ts"] = spans["max"].to_numpy(dtype=np.int64)

    hours["hour"] = hours["hour"].astype(np.int64)
    for frame in (hours, accounts):
        frame["day"] = [_EPOCH_DAY + timedelta(days=int(n)) for n in frame["day"].tolist()]
    for column in ("first_ts", "last_ts"):
        accounts[column] = pd.to_datetime(accounts[column].to_numpy(dtype=np.int64), unit="us", utc=True)
    return (
        hours.sort_values(list(HOUR_KEY), ignore_index=True),
        accounts.sort_values(list(ACCOUNT_KEY), ignore_index=True),
    )


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, distinct values): NULL is the value ``''`` (one code with an empty text, so a key
    never appears twice in one upsert)."""
    if values.hasnans:
        values = values.fillna("")
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _factor_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes of :func:`canonical_factors`, computed once per distinct value (there are a handful)."""
    codes, distinct = _codes(values)
    canonical = [canonical_factors(str(v)) for v in distinct]
    merged, uniques = pd.factorize(pd.Series(canonical, dtype=object))
    return merged[codes].astype(np.int64), np.asarray(uniques, dtype=object)


def _groups(keys: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(group number per row, first row of each group) for the rows' combined key codes."""
    group = np.zeros(len(keys[0][0]), dtype=np.int64)
    for codes, distinct in keys:
        group, _ = pd.factorize(group * (len(distinct) + 1) + codes)  # compact again: never overflows
    size = int(group.max()) + 1
    first = np.full(size, len(group), dtype=np.int64)
    np.minimum.at(first, group, np.arange(len(group), dtype=np.int64))
    return group.astype(np.int64), first


def _key_frame(
    columns: dict[str, tuple[np.ndarray, np.ndarray]], key: Sequence[str], first: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame({name: columns[name][1][columns[name][0][first]] for name in key})


def _sums(group: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(group, weights=values, minlength=size).round().astype(np.int64)


def add_events(connection: Connection, events: pd.DataFrame) -> None:
    """Add events just stored to the rollups (inside the transaction that stored them).

    ``events`` must hold only rows this transaction stored, never one already counted: ingest gives
    the chunk's frame when every row was new, and reads the batch back otherwise.
    """
    hours, accounts = aggregate(events)
    upsert(connection, table_of(EventHour), hours, HOUR_KEY)
    upsert(connection, table_of(AccountDay), accounts, ACCOUNT_KEY)


def upsert(connection: Connection, table: Table, rows: pd.DataFrame, key: Sequence[str]) -> int:
    """Add ``rows`` (unique keys) to a rollup table: counts are summed into an existing row, first and
    last instants widened. One statement per :data:`UPSERT_ROWS` rows, in key order, so two ingests
    of one municipality on PostgreSQL lock rows in the same order and cannot deadlock.

    The statement is plain SQL given to the driver with values already in the backend's form: built
    by SQLAlchemy, 500 rows of bound values cost as much as aggregating the chunk."""
    if rows.empty:
        return 0
    dialect = connection.dialect.name
    rows = rows.sort_values(list(key), kind="stable")
    columns = [c.name for c in table.columns]
    records = list(zip(*(_driver_values(rows[c], dialect) for c in columns), strict=True))
    for start in range(0, len(records), UPSERT_ROWS):
        part = records[start : start + UPSERT_ROWS]
        sql = _upsert_sql(table.name, tuple(columns), tuple(key), len(part), dialect)
        connection.exec_driver_sql(sql, tuple(value for record in part for value in record))
    return len(records)


@functools.cache
def _upsert_sql(table: str, columns: tuple[str, ...], key: tuple[str, ...], rows: int, dialect: str) -> str:
    mark = "%s" if dialect == "postgresql" else "?"
    smaller, larger = ("least", "greatest") if dialect == "postgresql" else ("min", "max")
    merged = []
    for name in columns:
        if name in key:
            continue
        if name == "first_ts":
            merged.append(f"{name} = {smaller}({table}.{name}, excluded.{name})")
        elif name == "last_ts":
            merged.append(f"{name} = {larger}({table}.{name}, excluded.{name})")
        else:
            merged.append(f"{name} = {table}.{name} + excluded.{name}")
    row = "(" + ", ".join(mark for _ in columns) + ")"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(row for _ in range(rows))} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(merged)}"
    )


def _driver_values(series: pd.Series, dialect: str) -> list[Any]:
    """A column as the driver takes it: days as ISO text on SQLite (how a ``Date`` is stored there),
    instants as integer microseconds on SQLite, everything else as plain Python values."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        if dialect == "postgresql":
            return list(series.dt.to_pydatetime())
        return [int(v) for v in series.astype("datetime64[us, UTC]").astype("int64").tolist()]
    if series.name == "day" and dialect != "postgresql":
        return [d.isoformat() for d in series.tolist()]
    if pd.api.types.is_integer_dtype(series):
        return [int(v) for v in series.tolist()]
    values: list[Any] = series.tolist()
    return values


# -- rebuilding ---------------------------------------------------------------------------------------


def _bounds(first_day: date | None, last_day: date | None) -> tuple[datetime | None, datetime | None]:
    """The instants where Japan-time ``first_day`` starts and the day after ``last_day`` starts."""
    start = datetime.combine(first_day, time(), UTC) - _JST if first_day is not None else None
    end = datetime.combine(last_day + timedelta(days=1), time(), UTC) - _JST if last_day is not None else None
    return start, end


def _day_range(table: Table, municipality_code: str, first_day: date | None, last_day: date | None) -> list[Any]:
    where = [table.c.municipality_code == municipality_code]
    if first_day is not None:
        where.append(table.c.day >= first_day)
    if last_day is not None:
        where.append(table.c.day <= last_day)
    return where


def rebuild_rollups(
    connection: Connection, municipality_code: str, first_day: date | None = None, last_day: date | None = None
) -> int:
    """Recompute the rollups of Japan-time days ``first_day``–``last_day`` (inclusive; open ends mean
    every day) from ``events``: their rows are deleted, then rewritten by one GROUP BY per table.
    Returns how many rollup rows were written. Does not commit."""
    dialect = connection.dialect.name
    events = table_of(Event)
    start, end = _bounds(first_day, last_day)
    where = [events.c.municipality_code == municipality_code]
    if start is not None:
        where.append(events.c.ts >= start)
    if end is not None:
        where.append(events.c.ts < end)
    raw_day = local_day(events.c.ts, dialect)
    # PostgreSQL's local_day is text; SQLite stores a Date as that very text (and CAST AS DATE would
    # turn it into a number there)
    day = cast(raw_day, Date) if dialect == "postgresql" else type_coerce(raw_day, Date)
    touched = or_(events.c.subject_hash.is_not(None), events.c.subject_count > 1)  # as :func:`aggregate`
    subjects = func.sum(case((touched, events.c.subject_count), else_=0))
    written = 0
    if dialect == "postgresql":
        # A concurrent ingest must not add to rows being rebuilt: one that has already added holds
        # them until it commits (the rebuild waits, then its GROUP BY sees those events); one that
        # adds later waits for the rebuild to commit. SQLite has one writer anyway.
        connection.exec_driver_sql("LOCK TABLE event_hours, account_days IN SHARE ROW EXCLUSIVE MODE")

    hours = table_of(EventHour)
    connection.execute(hours.delete().where(*_day_range(hours, municipality_code, first_day, last_day)))
    hour = local_hour(events.c.ts, dialect)
    jimu = func.coalesce(events.c.jimu, "")
    factors = func.coalesce(events.c.auth_factors, "")
    keys = [events.c.municipality_code, day, hour, events.c.source, events.c.system, jimu, events.c.action,
            events.c.result, factors]  # fmt: skip
    grouped = (
        select(*keys, func.count(), subjects, func.sum(cast(events.c.pii_masked, Integer)))
        .where(*where)
        .group_by(*keys)
    )
    done = connection.execute(
        hours.insert().from_select([*HOUR_KEY, *HOUR_FIGURES], grouped), execution_options=_ROWCOUNT
    )
    written += done.rowcount
    written -= _canonicalise_factors(connection, municipality_code, first_day, last_day)

    accounts = table_of(AccountDay)
    connection.execute(accounts.delete().where(*_day_range(accounts, municipality_code, first_day, last_day)))
    is_output = case((events.c.action.in_(OUTPUT_ACTIONS), 1), else_=0)
    is_login = case(((events.c.action == "login") & (events.c.result == "success"), 1), else_=0)
    keys = [events.c.municipality_code, day, events.c.user_id]
    grouped = (
        select(
            *keys,
            func.count(),
            func.sum(is_output),
            subjects,
            func.sum(is_login),
            literal(0),  # strong logins and logins and logouts: counted below, the factors read as ingest does
            literal(0),
            func.min(events.c.ts),
            func.max(events.c.ts),
        )
        .where(*where)
        .group_by(*keys)
    )
    done = connection.execute(
        accounts.insert().from_select([*ACCOUNT_KEY, *ACCOUNT_FIGURES], grouped), execution_options=_ROWCOUNT
    )
    written += done.rowcount
    count_session_figures(connection, municipality_code, first_day, last_day)
    return written


def count_session_figures(
    connection: Connection, municipality_code: str, first_day: date | None = None, last_day: date | None = None
) -> int:
    """Set ``account_days.strong_logins`` and ``auth_events`` of Japan-time days ``first_day``–``last_day``
    from the events: logins and logouts counted per account, day, action, result and factors in SQL (over
    the sessions index), the factors judged once per distinct text as ingest judges them
    (:func:`strong_factors`). Returns the rows set. Does not commit."""
    dialect = connection.dialect.name
    events = table_of(Event)
    start, end = _bounds(first_day, last_day)
    where: list[Any] = [events.c.municipality_code == municipality_code, text(SESSION_ACTIONS_SQL)]
    if start is not None:
        where.append(events.c.ts >= start)
    if end is not None:
        where.append(events.c.ts < end)
    day = local_day(events.c.ts, dialect)
    factors = func.coalesce(events.c.auth_factors, "")
    keys = [day, events.c.user_id, events.c.action, events.c.result, factors]
    stmt = select(*keys, func.count()).where(*where).group_by(*keys)
    found = bulk.read_frame(connection, stmt, ["day", "user_id", "action", "result", "factors", "n"])
    if found.empty:
        return 0
    judged = {f: strong_factors(canonical_factors(f)) for f in found["factors"].astype(str).unique()}
    login = (found["action"] == "login") & (found["result"] == "success")
    found["strong"] = found["n"].where(login & found["factors"].astype(str).map(judged).astype(bool), 0)
    counts = found.groupby(["day", "user_id"], as_index=False)[["strong", "n"]].sum()
    accounts = table_of(AccountDay)
    update = (
        accounts.update()
        .where(
            accounts.c.municipality_code == municipality_code,
            accounts.c.day == bindparam("d"),
            accounts.c.user_id == bindparam("u"),
        )
        .values(strong_logins=bindparam("strong"), auth_events=bindparam("auth"))
    )
    rows = [
        {"d": date.fromisoformat(str(d)[:10]), "u": u, "strong": int(strong), "auth": int(n)}
        for d, u, strong, n in zip(counts["day"], counts["user_id"], counts["strong"], counts["n"], strict=True)
    ]
    connection.execute(update, rows)
    return len(rows)


def _canonicalise_factors(
    connection: Connection, municipality_code: str, first_day: date | None, last_day: date | None
) -> int:
    """Merge rebuilt ``event_hours`` rows whose factors are not in canonical order into the canonical
    key (as ingest does). Rare: mapped profiles store them canonical. Returns the rows merged away."""
    hours = table_of(EventHour)
    where = _day_range(hours, municipality_code, first_day, last_day)
    present = connection.execute(select(hours.c.factors).where(*where).distinct()).scalars().all()
    odd = [f for f in present if canonical_factors(f) != f]
    if not odd:
        return 0
    rows = bulk.read_frame(connection, select(hours).where(*where, hours.c.factors.in_(odd)), list(hours.c.keys()))
    connection.execute(hours.delete().where(*where, hours.c.factors.in_(odd)))
    rows["factors"] = rows["factors"].map(canonical_factors)
    rows["day"] = pd.to_datetime(rows["day"]).dt.date
    merged = rows.groupby(list(HOUR_KEY), sort=True)[list(HOUR_FIGURES)].sum().reset_index()
    upsert(connection, hours, merged, HOUR_KEY)
    return len(rows) - len(merged)


# -- reading ------------------------------------------------------------------------------------------


def _read(
    connection: Connection, table: Table, municipality_code: str, first_day: date, last_day: date
) -> pd.DataFrame:
    names = list(table.c.keys())
    stmt = (
        select(table)
        .where(*_day_range(table, municipality_code, first_day, last_day))
        .order_by(*table.primary_key.columns)
    )
    frame = bulk.read_frame(connection, stmt, names)
    if not frame.empty:
        frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame


def hour_rollup(connection: Connection, municipality_code: str, first_day: date, last_day: date) -> pd.DataFrame:
    """``event_hours`` rows of Japan-time days ``first_day``–``last_day`` (inclusive), in key order."""
    return _read(connection, table_of(EventHour), municipality_code, first_day, last_day)


def account_rollup(connection: Connection, municipality_code: str, first_day: date, last_day: date) -> pd.DataFrame:
    """``account_days`` rows of Japan-time days ``first_day``–``last_day`` (inclusive), in key order;
    ``first_ts``/``last_ts`` tz-aware UTC."""
    frame = _read(connection, table_of(AccountDay), municipality_code, first_day, last_day)
    for column in ("first_ts", "last_ts"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def hour_totals(
    connection: Connection, municipality_code: str, first_day: date, last_day: date, by: Sequence[str]
) -> pd.DataFrame:
    """``event_hours`` summed in SQL over Japan-time days ``first_day``–``last_day`` (inclusive), grouped
    by the key columns ``by``: a year of a large city in a few hundred rows where the reader needs no
    time (or a few thousand by day), without reading the rollup row by row."""
    table = table_of(EventHour)
    keys = [table.c[name] for name in by]
    stmt = (
        select(*keys, *(func.sum(table.c[f]).label(f) for f in HOUR_FIGURES))
        .where(*_day_range(table, municipality_code, first_day, last_day))
        .group_by(*keys)
    )
    frame = bulk.read_frame(connection, stmt, [*by, *HOUR_FIGURES])
    for figure in HOUR_FIGURES:  # sums over no row at all (``by`` empty) are NULL
        frame[figure] = pd.to_numeric(frame[figure]).fillna(0).astype("int64")
    if "day" in frame and not frame.empty:
        frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame


def active_accounts(connection: Connection, municipality_code: str, first_day: date, last_day: date) -> int:
    """Accounts with any event (a login included) on Japan-time days ``first_day``–``last_day``."""
    table = table_of(AccountDay)
    stmt = select(func.count(func.distinct(table.c.user_id))).where(
        *_day_range(table, municipality_code, first_day, last_day)
    )
    return int(connection.execute(stmt).scalar_one())


#: Accounts per statement when a read names them (``user_id IN …``): far below every bound on parameters.
ACCOUNTS_PER_READ = 500


def account_activity(
    connection: Connection,
    municipality_code: str,
    first_day: date,
    last_day: date,
    user_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per account over Japan-time days ``first_day``–``last_day``: the days it was used, its events and
    outputs, its successful logins (``strong_logins`` of them with two factors or more), its logins and
    logouts (``auth_events``), and the last day with a successful login (NaT if none). ``user_ids``:
    those accounts only, each read by its index (``ix_account_days_user_day``), not the whole
    municipality's days."""
    table = table_of(AccountDay)
    login_day = case((table.c.logins > 0, table.c.day), else_=None)
    figures = ("events", "outputs", "logins", "strong_logins", "auth_events")
    stmt = select(
        table.c.user_id,
        func.count().label("days"),
        *(func.sum(table.c[name]).label(name) for name in figures),
        func.max(login_day).label("last_login"),
    ).where(*_day_range(table, municipality_code, first_day, last_day))
    columns = ["user_id", "days", *figures, "last_login"]
    if user_ids is None:
        frame = bulk.read_frame(connection, stmt.group_by(table.c.user_id), columns)
    else:
        ids = sorted(set(user_ids))
        parts = [
            bulk.read_frame(
                connection,
                stmt.where(table.c.user_id.in_(ids[at : at + ACCOUNTS_PER_READ])).group_by(table.c.user_id),
                columns,
            )
            for at in range(0, len(ids), ACCOUNTS_PER_READ)
        ]
        parts = [part for part in parts if not part.empty]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    for figure in ("days", *figures):
        frame[figure] = pd.to_numeric(frame[figure]).astype("int64")
    frame["last_login"] = pd.to_datetime(frame["last_login"]).dt.date if not frame.empty else frame["last_login"]
    return frame


def login_coverage(
    connection: Connection,
    municipality_code: str,
    first_day: date,
    last_day: date,
    user_ids: Sequence[str] | None = None,
) -> dict[str, int]:
    """Two-factor coverage of Japan-time days ``first_day``–``last_day``, summed in SQL (the accounts
    never come to Python): ``accounts`` with any row, ``covered`` of them (logged in, every successful
    login with two factors or more), ``logins`` and ``strong_logins``, and the ``operations`` (events
    less logins and logouts, per account, never below zero) of all accounts and of the covered ones
    (``covered_operations``). ``user_ids``: those accounts only."""
    table = table_of(AccountDay)
    where = _day_range(table, municipality_code, first_day, last_day)
    if user_ids is not None:
        where.append(table.c.user_id.in_(bindparam("ids", expanding=True)))
    per_account = (
        select(
            func.sum(table.c.logins).label("logins"),
            func.sum(table.c.strong_logins).label("strong"),
            (func.sum(table.c.events) - func.sum(table.c.auth_events)).label("operations"),
        )
        .where(*where)
        .group_by(table.c.user_id)
        .subquery()
    )
    covered = (per_account.c.logins > 0) & (per_account.c.strong == per_account.c.logins)
    operations = case((per_account.c.operations > 0, per_account.c.operations), else_=0)
    stmt = select(
        func.count().label("accounts"),
        func.sum(case((covered, 1), else_=0)).label("covered"),
        func.sum(per_account.c.logins).label("logins"),
        func.sum(per_account.c.strong).label("strong_logins"),
        func.sum(operations).label("operations"),
        func.sum(case((covered, operations), else_=0)).label("covered_operations"),
    )
    params = {} if user_ids is None else {"ids": sorted(set(user_ids))}
    if user_ids is not None and not params["ids"]:
        return dict.fromkeys(("accounts", "covered", "logins", "strong_logins", "operations", "covered_operations"), 0)
    row = connection.execute(stmt, params).one()
    return {name: int(value or 0) for name, value in row._mapping.items()}
