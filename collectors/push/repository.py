"""All SQL of the HTTP side of collection: sources and their push tokens, push runs, and the reads
behind the ingest-visibility API. Bulk writes (events, quarantine) stay in
:mod:`auditd.events.repository`; this module only adds what those paths do not cover."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, func, insert, select, text, update

from auditd.events.models import IngestRun, QuarantinedRecord, Source
from auditd.store.base import table_of
from auditd.trail.models import TrailEntry

# -- sources ----------------------------------------------------------------------------------------


def source_by_name(connection: Connection, municipality_code: str, name: str) -> dict[str, Any] | None:
    stmt = select(table_of(Source)).where(Source.municipality_code == municipality_code, Source.name == name)
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def sources_named(connection: Connection, name: str) -> list[dict[str, Any]]:
    """Every municipality's source called ``name``: a push URL names the source, its token says whose."""
    stmt = select(table_of(Source)).where(Source.name == name).order_by(Source.id)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def add_source(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(Source).values(**values).returning(Source.id)).scalar_one())


def set_push_token_hash(connection: Connection, municipality_code: str, name: str, token_hash: str | None) -> None:
    connection.execute(
        update(Source)
        .where(Source.municipality_code == municipality_code, Source.name == name)
        .values(push_token_hash=token_hash)
    )


# -- push runs --------------------------------------------------------------------------------------


def latest_run_of_input(
    connection: Connection, municipality_code: str, source: str, input_name: str
) -> dict[str, Any] | None:
    """The newest run of ``source`` that read ``input_name`` (a push's ``push:<source>:<key>``)."""
    table = table_of(IngestRun)
    stmt = (
        select(table)
        .where(table.c.municipality_code == municipality_code, table.c.source == source, table.c.input == input_name)
        .order_by(table.c.id.desc())
        .limit(1)
    )
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def set_run_fingerprint(connection: Connection, run_id: int, fingerprint: str) -> None:
    connection.execute(update(IngestRun).where(IngestRun.id == run_id).values(fingerprint=fingerprint))


def run_trail_detail(connection: Connection, municipality_code: str, run_id: int) -> dict[str, Any] | None:
    """The summary a run's ``ingest`` trail entry recorded when the run closed (None if there is none)."""
    stmt = (
        select(TrailEntry.detail)
        .where(
            TrailEntry.municipality_code == municipality_code,
            TrailEntry.action == "ingest",
            TrailEntry.target_type == "ingest_run",
            TrailEntry.target_id == str(run_id),
        )
        .order_by(TrailEntry.id.desc())
        .limit(1)
    )
    detail = connection.execute(stmt).scalar()
    if not detail:
        return None
    parsed = json.loads(detail)
    return parsed if isinstance(parsed, dict) else None


def quarantine_reasons_of_run(connection: Connection, municipality_code: str, run_id: int) -> dict[str, int]:
    stmt = (
        select(QuarantinedRecord.reason_code, func.count())
        .where(QuarantinedRecord.municipality_code == municipality_code, QuarantinedRecord.run_id == run_id)
        .group_by(QuarantinedRecord.reason_code)
    )
    return {str(code): int(n) for code, n in connection.execute(stmt)}


# -- reads for people -------------------------------------------------------------------------------


def runs(connection: Connection, municipality_code: str, *, source: str | None, limit: int) -> list[dict[str, Any]]:
    """Recent runs, newest first, without the checkpoint's identity window (bookkeeping, not for people)."""
    table = table_of(IngestRun)
    columns = [c for c in table.c if c.name != "identity_window"]
    stmt = select(*columns).where(table.c.municipality_code == municipality_code)
    if source is not None:
        stmt = stmt.where(table.c.source == source)
    stmt = stmt.order_by(table.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def quarantined(
    connection: Connection, municipality_code: str, *, source: str | None, reason: str | None, limit: int
) -> list[dict[str, Any]]:
    table = table_of(QuarantinedRecord)
    stmt = select(table).where(table.c.municipality_code == municipality_code)
    if source is not None:
        stmt = stmt.where(table.c.source == source)
    if reason is not None:
        stmt = stmt.where(table.c.reason_code == reason)
    stmt = stmt.order_by(table.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def quarantine_counts(connection: Connection, municipality_code: str, *, source: str | None) -> dict[str, int]:
    """Quarantined records by reason code, most frequent first."""
    stmt = select(QuarantinedRecord.reason_code, func.count()).where(
        QuarantinedRecord.municipality_code == municipality_code
    )
    if source is not None:
        stmt = stmt.where(QuarantinedRecord.source == source)
    stmt = stmt.group_by(QuarantinedRecord.reason_code).order_by(func.count().desc(), QuarantinedRecord.reason_code)
    return {str(code): int(n) for code, n in connection.execute(stmt)}


# -- a push's Idempotency-Key lock (PostgreSQL) ------------------------------------------------------------


def try_advisory_lock(connection: Connection, number: int) -> bool:
    """Take session-level advisory lock ``number`` if free; it is released when the session ends."""
    return bool(connection.execute(text("SELECT pg_try_advisory_lock(:n)"), {"n": number}).scalar_one())


def advisory_unlock(connection: Connection, number: int) -> None:
    connection.execute(text("SELECT pg_advisory_unlock(:n)"), {"n": number})
