"""All SQL of cases, their history, attachments, suppressions, breach checklists, and the alerts they
group. Functions take the municipality explicitly; whose section a caller may see is passed as
``section`` by the service (see :func:`auditd.cases.service.scope`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Select, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from auditd.alerts.models import Alert
from auditd.cases.models import BreachReport, Case, CaseAttachment, CaseEvent, Suppression
from auditd.store import bulk
from auditd.store.base import table_of

CASE_COLUMNS = tuple(c.name for c in table_of(Case).columns)
ALERT_COLUMNS = tuple(c.name for c in table_of(Alert).columns)
SUPPRESSION_COLUMNS = tuple(c.name for c in table_of(Suppression).columns)
#: An alert as an officer lists it (no event ids: those are read with the case).
ALERT_LIST_COLUMNS = tuple(c for c in ALERT_COLUMNS if c not in ("event_ids", "evidence", "fingerprint"))


# -- alerts -------------------------------------------------------------------------------------------


def ungrouped_alerts(connection: Connection, municipality_code: str) -> pd.DataFrame:
    """Alerts not yet triaged (no case, not suppressed), oldest story first."""
    table = table_of(Alert)
    stmt = (
        select(*table.columns)
        .where(table.c.municipality_code == municipality_code, table.c.case_id.is_(None), table.c.status == "new")
        .order_by(table.c.start, table.c.id)
    )
    return bulk.read_frame(connection, stmt, ALERT_COLUMNS)


def set_alerts(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Update alerts by id: each row is ``{"alert_id", "case_id", "status", "suppression_id"}``."""
    if not rows:
        return
    table = table_of(Alert)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("alert_id"))
        .values(case_id=bindparam("new_case_id"), status=bindparam("new_status"), suppression_id=bindparam("sid"))
    )
    connection.execute(
        stmt,
        [
            {
                "alert_id": r["alert_id"],
                "new_case_id": r["case_id"],
                "new_status": r["status"],
                "sid": r["suppression_id"],
            }
            for r in rows
        ],
    )


def set_case_alerts_status(connection: Connection, municipality_code: str, case_id: int, status: str) -> None:
    table = table_of(Alert)
    connection.execute(
        update(table)
        .where(table.c.municipality_code == municipality_code, table.c.case_id == case_id)
        .values(status=status)
    )


def _alerts_query(
    municipality_code: str,
    *,
    section: str | None = None,
    status: str | None = None,
    rule: str | None = None,
    severity: str | None = None,
    user_id: str | None = None,
    case_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    table = table_of(Alert)
    stmt = select(*(table.c[c] for c in ALERT_LIST_COLUMNS)).where(table.c.municipality_code == municipality_code)
    for column, value in (
        ("section", section),
        ("status", status),
        ("rule", rule),
        ("severity", severity),
        ("user_id", user_id),
        ("case_id", case_id),
    ):
        if value is not None:
            stmt = stmt.where(table.c[column] == value)
    if since is not None:
        stmt = stmt.where(table.c.end >= since)
    if until is not None:
        stmt = stmt.where(table.c.start < until)
    return stmt


def list_alerts(connection: Connection, municipality_code: str, *, limit: int, **filters: Any) -> list[RowMapping]:
    table = table_of(Alert)
    stmt = _alerts_query(municipality_code, **filters).order_by(table.c.id.desc()).limit(limit)
    return list(connection.execute(stmt).mappings())


def get_alert(connection: Connection, municipality_code: str, alert_id: int) -> RowMapping | None:
    table = table_of(Alert)
    stmt = select(*table.columns).where(table.c.municipality_code == municipality_code, table.c.id == alert_id)
    return connection.execute(stmt).mappings().first()


def case_alerts(connection: Connection, municipality_code: str, case_id: int) -> list[RowMapping]:
    table = table_of(Alert)
    stmt = (
        select(*table.columns)
        .where(table.c.municipality_code == municipality_code, table.c.case_id == case_id)
        .order_by(table.c.start, table.c.id)
    )
    return list(connection.execute(stmt).mappings())


def alerts_detected(connection: Connection, municipality_code: str, since: datetime, until: datetime) -> pd.DataFrame:
    """Alerts stored in ``[since, until)`` that went into a case (the digest's content)."""
    table = table_of(Alert)
    stmt = (
        select(*table.columns)
        .where(
            table.c.municipality_code == municipality_code,
            table.c.detected_at >= since,
            table.c.detected_at < until,
            table.c.case_id.is_not(None),
        )
        .order_by(table.c.id)
    )
    return bulk.read_frame(connection, stmt, ALERT_COLUMNS)


# -- cases --------------------------------------------------------------------------------------------


def open_cases(connection: Connection, municipality_code: str) -> pd.DataFrame:
    table = table_of(Case)
    stmt = select(*table.columns).where(table.c.municipality_code == municipality_code, table.c.status != "closed")
    return bulk.read_frame(connection, stmt.order_by(table.c.id), CASE_COLUMNS)


def case_rules(connection: Connection, municipality_code: str, case_ids: Sequence[int]) -> dict[int, set[str]]:
    """The detector codes of each case's alerts."""
    table = table_of(Alert)
    found: dict[int, set[str]] = {}
    for i in range(0, len(case_ids), 500):
        stmt = (
            select(table.c.case_id, table.c.rule)
            .where(table.c.municipality_code == municipality_code, table.c.case_id.in_(list(case_ids[i : i + 500])))
            .distinct()
        )
        for case_id, rule in connection.execute(stmt):
            found.setdefault(int(case_id), set()).add(str(rule))
    return found


def insert_case(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(Case).values(**values).returning(Case.id)).scalar_one())


def update_case(connection: Connection, municipality_code: str, case_id: int, **values: Any) -> None:
    table = table_of(Case)
    connection.execute(
        update(table).where(table.c.municipality_code == municipality_code, table.c.id == case_id).values(**values)
    )


def get_case(connection: Connection, municipality_code: str, case_id: int) -> RowMapping | None:
    table = table_of(Case)
    stmt = select(*table.columns).where(table.c.municipality_code == municipality_code, table.c.id == case_id)
    return connection.execute(stmt).mappings().first()


def list_cases(
    connection: Connection,
    municipality_code: str,
    *,
    section: str | None = None,
    status: str | Sequence[str] | None = None,
    assignee: str | None = None,
    user_id: str | None = None,
    severity: str | None = None,
    limit: int = 200,
) -> list[RowMapping]:
    """Cases newest first; ``status`` is one status or several (e.g. every open one)."""
    table = table_of(Case)
    stmt = select(*table.columns).where(table.c.municipality_code == municipality_code)
    if status is not None:
        stmt = stmt.where(table.c.status.in_([status] if isinstance(status, str) else list(status)))
    for column, value in (("section", section), ("assignee", assignee), ("user_id", user_id), ("severity", severity)):
        if value is not None:
            stmt = stmt.where(table.c[column] == value)
    return list(connection.execute(stmt.order_by(table.c.id.desc()).limit(limit)).mappings())


def open_case_counts(
    connection: Connection, municipality_code: str, *, section: str | None = None
) -> dict[tuple[str, str], int]:
    """Cases not closed, counted by (severity, status)."""
    table = table_of(Case)
    stmt = (
        select(table.c.severity, table.c.status, func.count())
        .where(table.c.municipality_code == municipality_code, table.c.status != "closed")
        .group_by(table.c.severity, table.c.status)
    )
    if section is not None:
        stmt = stmt.where(table.c.section == section)
    return {(str(severity), str(status)): int(n) for severity, status, n in connection.execute(stmt)}


def cases_open_since(connection: Connection, municipality_code: str, before: datetime) -> list[RowMapping]:
    """Cases not closed that were opened before ``before`` (the reminders' content)."""
    table = table_of(Case)
    stmt = select(*table.columns).where(
        table.c.municipality_code == municipality_code, table.c.status != "closed", table.c.opened_at < before
    )
    return list(connection.execute(stmt.order_by(table.c.id)).mappings())


def add_events(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(table_of(CaseEvent)), list(rows))


def case_events(connection: Connection, municipality_code: str, case_id: int) -> list[RowMapping]:
    table = table_of(CaseEvent)
    stmt = (
        select(*table.columns)
        .where(table.c.municipality_code == municipality_code, table.c.case_id == case_id)
        .order_by(table.c.ts, table.c.id)
    )
    return list(connection.execute(stmt).mappings())


# -- attachments --------------------------------------------------------------------------------------


def add_attachment(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(CaseAttachment).values(**values).returning(CaseAttachment.id)).scalar_one())


def attachments(connection: Connection, municipality_code: str, case_id: int) -> list[RowMapping]:
    table = table_of(CaseAttachment)
    stmt = (
        select(*(c for c in table.columns if c.name != "content"))
        .where(table.c.municipality_code == municipality_code, table.c.case_id == case_id)
        .order_by(table.c.id)
    )
    return list(connection.execute(stmt).mappings())


def get_attachment(
    connection: Connection, municipality_code: str, case_id: int, attachment_id: int
) -> RowMapping | None:
    table = table_of(CaseAttachment)
    stmt = select(*table.columns).where(
        table.c.municipality_code == municipality_code, table.c.case_id == case_id, table.c.id == attachment_id
    )
    return connection.execute(stmt).mappings().first()


# -- suppressions -------------------------------------------------------------------------------------


def active_suppressions(connection: Connection, municipality_code: str, on: date) -> pd.DataFrame:
    """Suppressions in force on ``on``: not revoked and not expired."""
    table = table_of(Suppression)
    stmt = select(*table.columns).where(
        table.c.municipality_code == municipality_code, table.c.revoked_at.is_(None), table.c.expires_on >= on
    )
    return bulk.read_frame(connection, stmt.order_by(table.c.id), SUPPRESSION_COLUMNS)


def add_suppression(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(Suppression).values(**values).returning(Suppression.id)).scalar_one())


def get_suppression(connection: Connection, municipality_code: str, suppression_id: int) -> RowMapping | None:
    table = table_of(Suppression)
    stmt = select(*table.columns).where(table.c.municipality_code == municipality_code, table.c.id == suppression_id)
    return connection.execute(stmt).mappings().first()


def list_suppressions(
    connection: Connection, municipality_code: str, *, active_on: date | None, limit: int
) -> list[RowMapping]:
    table = table_of(Suppression)
    stmt = select(*table.columns).where(table.c.municipality_code == municipality_code)
    if active_on is not None:
        stmt = stmt.where(table.c.revoked_at.is_(None), table.c.expires_on >= active_on)
    return list(connection.execute(stmt.order_by(table.c.id.desc()).limit(limit)).mappings())


def revoke_suppression(
    connection: Connection, municipality_code: str, suppression_id: int, *, by: str, at: datetime
) -> None:
    table = table_of(Suppression)
    connection.execute(
        update(table)
        .where(table.c.municipality_code == municipality_code, table.c.id == suppression_id)
        .values(revoked_by=by, revoked_at=at)
    )


def suppressed_counts(connection: Connection, municipality_code: str) -> dict[int, int]:
    """Alerts each suppression has matched (they stay stored and counted in reports)."""
    table = table_of(Alert)
    stmt = (
        select(table.c.suppression_id, func.count())
        .where(table.c.municipality_code == municipality_code, table.c.suppression_id.is_not(None))
        .group_by(table.c.suppression_id)
    )
    return {int(sid): int(n) for sid, n in connection.execute(stmt)}


# -- breach reports -----------------------------------------------------------------------------------


def get_breach(connection: Connection, municipality_code: str, case_id: int) -> RowMapping | None:
    table = table_of(BreachReport)
    stmt = select(*table.columns).where(table.c.municipality_code == municipality_code, table.c.case_id == case_id)
    return connection.execute(stmt).mappings().first()


def add_breach(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(BreachReport).values(**values).returning(BreachReport.id)).scalar_one())


def update_breach(connection: Connection, municipality_code: str, case_id: int, **values: Any) -> None:
    table = table_of(BreachReport)
    connection.execute(
        update(table).where(table.c.municipality_code == municipality_code, table.c.case_id == case_id).values(**values)
    )


def breaches_due(connection: Connection, municipality_code: str, *, section: str | None = None) -> list[RowMapping]:
    """Reportable breaches with a report not yet made, with their case's section and severity."""
    b, c = table_of(BreachReport), table_of(Case)
    stmt = (
        select(*b.columns, c.c.section, c.c.severity)
        .join(c, and_(c.c.municipality_code == b.c.municipality_code, c.c.id == b.c.case_id))
        .where(
            b.c.municipality_code == municipality_code,
            b.c.reportable.is_(True),
            or_(b.c.preliminary_reported_at.is_(None), b.c.final_reported_at.is_(None)),
        )
        .order_by(b.c.case_id)
    )
    if section is not None:
        stmt = stmt.where(c.c.section == section)
    return list(connection.execute(stmt).mappings())
