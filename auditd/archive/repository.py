"""All SQL of archiving and retention: months and their events, seals, the archive record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from auditd.archive.models import EventArchive, EventArchiveAction, EventArchiveBatch
from auditd.events.models import IngestBatch
from auditd.integrity.models import BatchSeal
from auditd.integrity.repository import raw_events
from auditd.store.base import table_of, to_micros

#: What took a month's events out of the ``events`` table (``restore`` brought them back).
REMOVING_ACTIONS = ("detach", "drop", "delete")


def _p(connection: Connection) -> str:
    return "%s" if connection.dialect.name == "postgresql" else "?"


def _instant(connection: Connection, value: datetime) -> Any:
    return value if connection.dialect.name == "postgresql" else to_micros(value)


def first_event_ts(connection: Connection) -> datetime | None:
    """The earliest instant any batch ever held (batches outlive their archived events)."""
    return connection.execute(select(func.min(IngestBatch.min_ts))).scalar()


def municipalities_between(connection: Connection, start: datetime, end: datetime) -> list[str]:
    """Municipalities with a batch whose events overlap ``[start, end)``."""
    batches = table_of(IngestBatch)
    stmt = (
        select(batches.c.municipality_code)
        .where(batches.c.min_ts < end, batches.c.max_ts >= start)
        .distinct()
        .order_by(batches.c.municipality_code)
    )
    return [str(c) for c in connection.execute(stmt).scalars()]


def count_events(
    connection: Connection, municipality_code: str | None, start: datetime, end: datetime, table: str = "events"
) -> int:
    """Events in ``[start, end)`` (of one municipality, or all), in ``events`` or a detached partition."""
    p = _p(connection)
    where = f"ts >= {p} AND ts < {p}"
    params: tuple[Any, ...] = (_instant(connection, start), _instant(connection, end))
    if municipality_code is not None:
        where = f"municipality_code = {p} AND " + where
        params = (municipality_code, *params)
    return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE {where}", params).scalar_one())


def counts_by_batch(connection: Connection, municipality_code: str, start: datetime, end: datetime) -> dict[int, int]:
    p = _p(connection)
    rows = connection.exec_driver_sql(
        f"SELECT batch_id, count(*) FROM events WHERE municipality_code = {p} AND ts >= {p} AND ts < {p} "
        "GROUP BY batch_id",
        (municipality_code, _instant(connection, start), _instant(connection, end)),
    ).all()
    return {int(r[0]): int(r[1]) for r in rows}


def events_between(
    connection: Connection, municipality_code: str, start: datetime, end: datetime
) -> dict[str, list[Any]]:
    """Every column of one municipality's events in ``[start, end)``, by column, as the database holds
    them (``ts`` in integer microseconds; ids as 16 bytes or hex): the integrity check's read
    (:func:`auditd.integrity.repository.raw_events`), through the primary key."""
    if connection.dialect.name == "postgresql":
        return raw_events(
            connection, "municipality_code = %s AND ts >= %s AND ts < %s", (municipality_code, start, end)
        )
    return raw_events(
        connection,
        "municipality_code = ? AND ts >= ? AND ts < ?",
        (municipality_code, to_micros(start), to_micros(end)),
    )


def seal_fingerprints(connection: Connection, batch_ids: Sequence[int]) -> dict[int, bytes]:
    """The sealed fingerprints of the batches that have a seal (8 bytes per event, canonical order)."""
    seals = table_of(BatchSeal)
    found: dict[int, bytes] = {}
    ids = list(batch_ids)
    for start in range(0, len(ids), 500):
        stmt = select(seals.c.batch_id, seals.c.fingerprints).where(seals.c.batch_id.in_(ids[start : start + 500]))
        for batch_id, prints in connection.execute(stmt):
            found[int(batch_id)] = bytes(prints or b"")
    return found


def add_archive(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(EventArchive).values(**values).returning(EventArchive.id)).scalar_one())


def add_archive_batches(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(table_of(EventArchiveBatch)), rows)


def add_action(connection: Connection, **values: Any) -> int:
    return int(
        connection.execute(insert(EventArchiveAction).values(**values).returning(EventArchiveAction.id)).scalar_one()
    )


def archives(
    connection: Connection, municipality_code: str | None = None, month: date | None = None
) -> list[dict[str, Any]]:
    """Archive records, newest first (of one municipality and/or month when given)."""
    table = table_of(EventArchive)
    stmt = select(table).order_by(table.c.month, table.c.municipality_code, table.c.id.desc())
    if municipality_code is not None:
        stmt = stmt.where(table.c.municipality_code == municipality_code)
    if month is not None:
        stmt = stmt.where(table.c.month == month)
    return [dict(r._mapping) for r in connection.execute(stmt)]


def archive_by_sha256(connection: Connection, sha256: str) -> dict[str, Any] | None:
    table = table_of(EventArchive)
    row = connection.execute(select(table).where(table.c.sha256 == sha256).order_by(table.c.id.desc())).first()
    return None if row is None else dict(row._mapping)


def archive_batches(connection: Connection, archive_id: int) -> list[dict[str, Any]]:
    table = table_of(EventArchiveBatch)
    stmt = select(table).where(table.c.archive_id == archive_id).order_by(table.c.batch_id)
    return [dict(r._mapping) for r in connection.execute(stmt)]


def actions(connection: Connection, archive_ids: Sequence[int]) -> list[dict[str, Any]]:
    table = table_of(EventArchiveAction)
    if not archive_ids:
        return []
    stmt = select(table).where(table.c.archive_id.in_(list(archive_ids))).order_by(table.c.id)
    return [dict(r._mapping) for r in connection.execute(stmt)]


def removed_slices(connection: Connection, municipality_code: str) -> list[dict[str, Any]]:
    """For ``auditd verify``: every archived batch range of the municipality whose month's events were
    taken out of ``events`` by a recorded action, with the records needed to check their MACs."""
    archives_t, batches_t, actions_t = (
        table_of(EventArchive),
        table_of(EventArchiveBatch),
        table_of(EventArchiveAction),
    )
    stmt = (
        select(
            batches_t.c.archive_id,
            batches_t.c.batch_id,
            batches_t.c.first_index,
            batches_t.c.events,
            batches_t.c.mac.label("slice_mac"),
            archives_t.c.month,
            archives_t.c.rows,
            archives_t.c.sha256,
            archives_t.c.mac.label("archive_mac"),
            actions_t.c.id.label("action_id"),
            actions_t.c.month.label("action_month"),
            actions_t.c.action,
            actions_t.c.rows.label("action_rows"),
            actions_t.c.mac.label("action_mac"),
        )
        .select_from(
            batches_t.join(archives_t, archives_t.c.id == batches_t.c.archive_id).join(
                actions_t, actions_t.c.archive_id == archives_t.c.id
            )
        )
        .where(
            batches_t.c.municipality_code == municipality_code,
            archives_t.c.municipality_code == municipality_code,
            actions_t.c.municipality_code == municipality_code,
            actions_t.c.action.in_(REMOVING_ACTIONS),
        )
        .order_by(batches_t.c.batch_id, actions_t.c.id)
    )
    return [dict(r._mapping) for r in connection.execute(stmt)]
