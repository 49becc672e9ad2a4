"""All SQL about the reports made, the PIA register (評価書台帳) and the attestations (証跡による回答)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, insert, select, update

from auditd.reports.models import Attestation, PiaReport, PiaReview, ReportRun, reassessment_due, review_due
from auditd.store.base import table_of

#: What a listing shows (everything but the file).
LISTED = ("id", "kind", "period_start", "period_end", "format", "title", "trigger", "requested_by", "created_at")
LISTED_ALL = (*LISTED, "size", "sha256", "subject_hash", "summary")


def add(connection: Connection, **values: Any) -> int:
    table = table_of(ReportRun)
    return int(connection.execute(insert(table).returning(table.c.id), [values]).scalar_one())


def runs(
    connection: Connection,
    municipality_code: str,
    *,
    kinds: tuple[str, ...] | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Reports made, newest first, without their files."""
    table = table_of(ReportRun)
    stmt = select(*(table.c[name] for name in LISTED_ALL)).where(table.c.municipality_code == municipality_code)
    if kinds is not None:
        stmt = stmt.where(table.c.kind.in_(kinds))
    stmt = stmt.order_by(table.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def run(connection: Connection, municipality_code: str, run_id: int, *, content: bool = False) -> dict[str, Any] | None:
    table = table_of(ReportRun)
    columns = [table.c[name] for name in LISTED_ALL] + ([table.c.content] if content else [])
    stmt = select(*columns).where(table.c.municipality_code == municipality_code, table.c.id == run_id)
    found = connection.execute(stmt).first()
    return None if found is None else dict(found._mapping)


def exists(connection: Connection, municipality_code: str, kind: str, start: date, end: date, fmt: str) -> bool:
    """Whether a report of this kind, period and format was already made (the schedule's catch-up test)."""
    table = table_of(ReportRun)
    stmt = select(table.c.id).where(
        table.c.municipality_code == municipality_code,
        table.c.kind == kind,
        table.c.period_start == start,
        table.c.period_end == end,
        table.c.format == fmt,
    )
    return connection.execute(stmt.limit(1)).first() is not None


# -- the PIA register --------------------------------------------------------------------------------

PIA_COLUMNS = ("id", "title", "jimu", "kind", "published_on", "last_reviewed_on", "reassessed_on", "note", "active")


def add_pia(connection: Connection, **values: Any) -> int:
    table = table_of(PiaReport)
    return int(connection.execute(insert(table).returning(table.c.id), [values]).scalar_one())


def pias(connection: Connection, municipality_code: str, *, active_only: bool = True) -> list[dict[str, Any]]:
    """The 評価書 of the register, by 事務 then title, each with its two due dates."""
    table = table_of(PiaReport)
    stmt = select(*(table.c[name] for name in PIA_COLUMNS)).where(table.c.municipality_code == municipality_code)
    if active_only:
        stmt = stmt.where(table.c.active.is_(True))
    stmt = stmt.order_by(table.c.jimu, table.c.title, table.c.id)
    return [_with_dues(dict(row._mapping)) for row in connection.execute(stmt)]


def pia(connection: Connection, municipality_code: str, pia_id: int) -> dict[str, Any] | None:
    table = table_of(PiaReport)
    stmt = select(*(table.c[name] for name in PIA_COLUMNS)).where(
        table.c.municipality_code == municipality_code, table.c.id == pia_id
    )
    found = connection.execute(stmt).first()
    return None if found is None else _with_dues(dict(found._mapping))


def _with_dues(row: dict[str, Any]) -> dict[str, Any]:
    row["active"] = bool(row["active"])
    row["review_due"] = review_due(row["published_on"], row["last_reviewed_on"], row["reassessed_on"])
    row["reassessment_due"] = reassessment_due(row["published_on"], row["reassessed_on"])
    return row


def pia_register(connection: Connection, municipality_code: str) -> list[dict[str, Any]]:
    """Active 評価書 with ``title``, ``jimu``, ``kind``, ``published_on``, ``last_reviewed_on``,
    ``reassessed_on``, ``review_due`` and ``reassessment_due`` (and ``id``, ``note``), by 事務."""
    return pias(connection, municipality_code)


def find_pia(connection: Connection, municipality_code: str, title: str, jimu: str) -> int | None:
    """An active 評価書 of this title and 事務 (an import does not add it twice)."""
    table = table_of(PiaReport)
    stmt = select(table.c.id).where(
        table.c.municipality_code == municipality_code,
        table.c.title == title,
        table.c.jimu == jimu,
        table.c.active.is_(True),
    )
    found = connection.execute(stmt.limit(1)).scalar_one_or_none()
    return None if found is None else int(found)


def set_pia(connection: Connection, municipality_code: str, pia_id: int, **values: Any) -> None:
    table = table_of(PiaReport)
    connection.execute(
        update(table).where(table.c.municipality_code == municipality_code, table.c.id == pia_id).values(**values)
    )


def add_pia_review(connection: Connection, **values: Any) -> int:
    table = table_of(PiaReview)
    return int(connection.execute(insert(table).returning(table.c.id), [values]).scalar_one())


def pia_reviews(connection: Connection, municipality_code: str, pia_id: int) -> list[dict[str, Any]]:
    """A 評価書's reviews and re-assessments, oldest first."""
    table = table_of(PiaReview)
    stmt = (
        select(table.c.id, table.c.kind, table.c.reviewed_on, table.c.actor, table.c.note, table.c.recorded_at)
        .where(table.c.municipality_code == municipality_code, table.c.pia_id == pia_id)
        .order_by(table.c.reviewed_on, table.c.id)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


# -- attestations ------------------------------------------------------------------------------------

ATTESTATION_LISTED = (
    "id",
    "fiscal_year",
    "item",
    "result",
    "statement",
    "evidence_name",
    "evidence_media_type",
    "evidence_size",
    "evidence_sha256",
    "attested_by",
    "attested_at",
)


def add_attestation(connection: Connection, **values: Any) -> int:
    table = table_of(Attestation)
    return int(connection.execute(insert(table).returning(table.c.id), [values]).scalar_one())


def attestation_history(connection: Connection, municipality_code: str, fiscal_year: int) -> list[dict[str, Any]]:
    """Every attestation of the fiscal year, oldest first, without the files."""
    table = table_of(Attestation)
    stmt = (
        select(*(table.c[name] for name in ATTESTATION_LISTED))
        .where(table.c.municipality_code == municipality_code, table.c.fiscal_year == fiscal_year)
        .order_by(table.c.id)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def attestations_for(connection: Connection, municipality_code: str, fiscal_year: int) -> dict[str, dict[str, Any]]:
    """The answer in force per item of the fiscal year (the newest attestation of each), keyed by item,
    with ``item``, ``result``, ``statement``, ``evidence_name``, ``evidence_sha256``, ``attested_by``
    and ``attested_at`` (and ``id``, ``evidence_media_type``, ``evidence_size``). Items nobody
    attested are absent."""
    latest: dict[str, dict[str, Any]] = {}
    for row in attestation_history(connection, municipality_code, fiscal_year):
        latest[row["item"]] = row  # ascending ids: the last one wins
    return latest


def attestation(
    connection: Connection, municipality_code: str, attestation_id: int, *, content: bool = False
) -> dict[str, Any] | None:
    table = table_of(Attestation)
    columns = [table.c[name] for name in ATTESTATION_LISTED] + ([table.c.evidence] if content else [])
    stmt = select(*columns).where(table.c.municipality_code == municipality_code, table.c.id == attestation_id)
    found = connection.execute(stmt).first()
    return None if found is None else dict(found._mapping)
