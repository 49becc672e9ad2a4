"""All SQL of the tamper-evident chain: the head lock, seals, reading batches back, check records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from auditd.events.models import IngestBatch, IngestRun
from auditd.integrity.canonical import COLUMNS
from auditd.integrity.models import BatchSeal, ChainHead, IntegrityCheck
from auditd.store.base import table_of, to_micros

GENESIS = bytes(32)

#: Batches read per query while walking the chain (each batch's events are one more query).
PAGE = 500


def lock_head(connection: Connection, municipality_code: str, now: datetime, key_check: bytes) -> dict[str, Any]:
    """The municipality's chain head, locked until the transaction ends (created at genesis if new).

    PostgreSQL: ``INSERT … ON CONFLICT DO NOTHING`` then ``SELECT … FOR UPDATE``, so two ingests that
    commit at once chain one after the other (the second waits for the first to commit). SQLite has
    one writer: the transaction already holds the database's write lock.
    """
    heads = table_of(ChainHead)
    values = {
        "municipality_code": municipality_code,
        "last_batch_id": None,
        "last_digest": GENESIS,
        "batches": 0,
        "events": 0,
        "updated_at": now,
        "key_check": key_check,
    }
    dialect = connection.dialect.name
    stmt = (pg_insert(heads) if dialect == "postgresql" else sqlite_insert(heads)).values(**values)
    connection.execute(stmt.on_conflict_do_nothing(index_elements=["municipality_code"]))
    query = select(heads).where(heads.c.municipality_code == municipality_code)
    if dialect == "postgresql":
        query = query.with_for_update()
    return dict(connection.execute(query).one()._mapping)


def advance_head(
    connection: Connection, municipality_code: str, batch_id: int, digest: bytes, events: int, now: datetime
) -> None:
    heads = table_of(ChainHead)
    connection.execute(
        update(heads)
        .where(heads.c.municipality_code == municipality_code)
        .values(
            last_batch_id=batch_id,
            last_digest=digest,
            batches=heads.c.batches + 1,
            events=heads.c.events + events,
            updated_at=now,
        )
    )


def set_batch_digest(connection: Connection, batch_id: int, digest: bytes, prev_digest: bytes) -> None:
    connection.execute(
        update(table_of(IngestBatch)).where(IngestBatch.id == batch_id).values(digest=digest, prev_digest=prev_digest)
    )


def add_seal(connection: Connection, **values: Any) -> None:
    connection.execute(insert(table_of(BatchSeal)).values(**values))


def get_head(connection: Connection, municipality_code: str) -> dict[str, Any] | None:
    row = connection.execute(
        select(table_of(ChainHead)).where(ChainHead.municipality_code == municipality_code)
    ).one_or_none()
    return None if row is None else dict(row._mapping)


# -- reading the chain back -----------------------------------------------------------------------


def _chain_query(municipality_code: str) -> Any:
    seals, batches, runs = table_of(BatchSeal), table_of(IngestBatch), table_of(IngestRun)
    return (
        select(
            seals.c.batch_id,
            seals.c.position,
            seals.c.event_count.label("sealed_count"),
            seals.c.events_sha256,
            seals.c.fingerprints,
            seals.c.sealed_at,
            batches.c.id.label("batch_row"),
            batches.c.municipality_code.label("batch_municipality"),
            batches.c.run_id,
            batches.c.event_count,
            batches.c.min_ts,
            batches.c.max_ts,
            batches.c.digest,
            batches.c.prev_digest,
            runs.c.input,
        )
        .select_from(
            seals.outerjoin(batches, batches.c.id == seals.c.batch_id).outerjoin(runs, runs.c.id == batches.c.run_id)
        )
        .where(seals.c.municipality_code == municipality_code)
    )


def chain_from(connection: Connection, municipality_code: str, first_position: int) -> Iterator[dict[str, Any]]:
    """Seals from ``first_position`` on, in chain order, each with its batch row and run input (None
    where the batch row is gone). Read :data:`PAGE` at a time by position, never all at once."""
    seals = table_of(BatchSeal)
    after = first_position - 1
    while True:
        page = connection.execute(
            _chain_query(municipality_code).where(seals.c.position > after).order_by(seals.c.position).limit(PAGE)
        ).all()
        for row in page:
            yield dict(row._mapping)
        if len(page) < PAGE:
            return
        after = int(page[-1].position)


def seal_at(connection: Connection, municipality_code: str, position: int) -> dict[str, Any] | None:
    seals = table_of(BatchSeal)
    row = connection.execute(_chain_query(municipality_code).where(seals.c.position == position)).one_or_none()
    return None if row is None else dict(row._mapping)


def first_position_since(connection: Connection, municipality_code: str, since: datetime) -> int | None:
    return connection.execute(
        select(func.min(BatchSeal.position)).where(
            BatchSeal.municipality_code == municipality_code, BatchSeal.sealed_at >= since
        )
    ).scalar()


def chain_totals(connection: Connection, municipality_code: str, first_position: int) -> tuple[int, int]:
    """(batches, events) sealed from ``first_position`` on: the size of a check, for its progress bar."""
    row = connection.execute(
        select(func.count(), func.coalesce(func.sum(BatchSeal.event_count), 0)).where(
            BatchSeal.municipality_code == municipality_code, BatchSeal.position >= first_position
        )
    ).one()
    return int(row[0]), int(row[1])


def unsealed_batches(connection: Connection, municipality_code: str) -> list[dict[str, Any]]:
    """Batch rows of the municipality without a seal: stored before the chain existed, or not by ingest."""
    batches, seals, runs = table_of(IngestBatch), table_of(BatchSeal), table_of(IngestRun)
    stmt = (
        select(batches.c.id, batches.c.event_count, batches.c.min_ts, batches.c.max_ts, batches.c.digest, runs.c.input)
        .select_from(
            batches.outerjoin(seals, seals.c.batch_id == batches.c.id).outerjoin(runs, runs.c.id == batches.c.run_id)
        )
        .where(batches.c.municipality_code == municipality_code, seals.c.batch_id.is_(None))
        .order_by(batches.c.id)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def batches_with_digest(connection: Connection, digest: bytes) -> list[int]:
    """Batches whose stored digest is ``digest`` (only asked when a link does not fit)."""
    return [int(i) for i in connection.execute(select(IngestBatch.id).where(IngestBatch.digest == digest)).scalars()]


def count_events(connection: Connection, municipality_code: str) -> int:
    return int(
        connection.exec_driver_sql(
            "SELECT count(*) FROM events WHERE municipality_code = " + _param(connection, 0), (municipality_code,)
        ).scalar_one()
    )


def count_batch_events(connection: Connection, batch_id: int) -> int:
    """Events still carrying ``batch_id`` anywhere in the table (a removed batch may have left some)."""
    return int(
        connection.exec_driver_sql(
            "SELECT count(*) FROM events WHERE batch_id = " + _param(connection, 0), (batch_id,)
        ).scalar_one()
    )


def _param(connection: Connection, index: int) -> str:
    return "%s" if connection.dialect.name == "postgresql" else "?"


def batch_events(connection: Connection, batch_id: int, min_ts: datetime, max_ts: datetime) -> dict[str, list[Any]]:
    """Every column of the events of one batch, by column, as the database holds them (:func:`raw_events`).

    Found through the primary key: ``ts`` between the batch's first and last instant, then its
    ``batch_id``."""
    if connection.dialect.name == "postgresql":
        return raw_events(connection, "ts >= %s AND ts <= %s AND batch_id = %s", (min_ts, max_ts, batch_id))
    return raw_events(
        connection, "ts >= ? AND ts <= ? AND batch_id = ?", (to_micros(min_ts), to_micros(max_ts), batch_id)
    )


def raw_events(connection: Connection, where: str, params: tuple[Any, ...]) -> dict[str, list[Any]]:
    """Every column of the events matching ``where`` (the driver's placeholders), by column.

    The driver's cursor is used directly: going through SQLAlchemy's result types would make one Python
    call per value (40 per event), ten times the cost of the check itself. ``ts`` comes back as integer
    microseconds and ``event_id`` as 16 bytes or hex text, whichever the backend gives cheaply;
    :func:`auditd.integrity.canonical.normalise` takes both.
    """
    names = list(COLUMNS)
    if connection.dialect.name == "postgresql":
        chosen = [
            "(extract(epoch FROM ts) * 1000000)::bigint"
            if c == "ts"
            else "replace(event_id::text, '-', '')"
            if c == "event_id"
            else f'"{c}"'
            for c in names
        ]
    else:
        chosen = names
    raw = connection.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.execute(f"SELECT {', '.join(chosen)} FROM events WHERE {where}", params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return {name: [] for name in names}
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}


# -- checks ------------------------------------------------------------------------------------------


def add_check(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(IntegrityCheck).values(**values).returning(IntegrityCheck.id)).scalar_one())


def last_check_with_head(connection: Connection, municipality_code: str) -> dict[str, Any] | None:
    """The latest check that saw the chain's head: what the chain was at least that long."""
    checks = table_of(IntegrityCheck)
    row = connection.execute(
        select(checks)
        .where(checks.c.municipality_code == municipality_code, checks.c.head_position.is_not(None))
        .order_by(checks.c.id.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else dict(row._mapping)


def recent_checks(connection: Connection, municipality_code: str, limit: int = 20) -> list[dict[str, Any]]:
    checks = table_of(IntegrityCheck)
    stmt = select(checks).where(checks.c.municipality_code == municipality_code).order_by(checks.c.id.desc())
    return [dict(row._mapping) for row in connection.execute(stmt.limit(limit))]
