"""All SQL of the rights lifecycle. Reads for people go through :func:`readable`, which is where a
section head is narrowed to the staff of their own section; routes never add their own filters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)

from auditd.auth.schemas import Principal
from auditd.events.models import Event
from auditd.reference.models import Account, Grant, Staff, StaffAssignment
from auditd.reference.repository import bump_generation, valid_on
from auditd.rights.models import GrantEvent, GrantRequest
from auditd.store.base import table_of

# -- scope --------------------------------------------------------------------------------------------


def in_section(municipality_code: str, section_code: str, user_id: Any, days: Sequence[Any]) -> ColumnElement[bool]:
    """The account ``user_id`` belongs to a person assigned to ``section_code`` on one of ``days``."""
    return exists(
        select(literal(1))
        .select_from(Account)
        .join(
            StaffAssignment,
            and_(
                StaffAssignment.municipality_code == Account.municipality_code,
                StaffAssignment.staff_id == Account.staff_id,
            ),
        )
        .where(
            Account.municipality_code == municipality_code,
            Account.user_id == user_id,
            StaffAssignment.section_code == section_code,
            or_(*(valid_on(StaffAssignment.valid_from, StaffAssignment.valid_to, day) for day in days)),
        )
    )


def readable(principal: Principal, user_id: Any, *days: Any) -> ColumnElement[bool]:
    """What ``principal`` may see of rows about the account in ``user_id``: everything in their
    municipality, or for a section head only accounts of people in their section on one of ``days``."""
    if not principal.is_section_scoped:
        return true()
    if principal.section_code is None:  # a section head without a section sees nothing
        return literal(False)
    return in_section(principal.municipality_code, principal.section_code, user_id, days)


# -- accounts -----------------------------------------------------------------------------------------


def account(connection: Connection, municipality_code: str, user_id: str) -> dict[str, Any] | None:
    row = connection.execute(
        select(table_of(Account)).where(Account.municipality_code == municipality_code, Account.user_id == user_id)
    ).first()
    return None if row is None else dict(row._mapping)


def staff_exists(connection: Connection, municipality_code: str, staff_id: str) -> bool:
    stmt = select(Staff.staff_id).where(Staff.municipality_code == municipality_code, Staff.staff_id == staff_id)
    return connection.execute(stmt).first() is not None


def insert_account(connection: Connection, **values: Any) -> None:
    connection.execute(insert(table_of(Account)).values(**values))
    bump_generation(connection, values["municipality_code"])


def update_account(connection: Connection, municipality_code: str, user_id: str, **values: Any) -> None:
    connection.execute(
        update(table_of(Account))
        .where(Account.municipality_code == municipality_code, Account.user_id == user_id)
        .values(**values)
    )
    bump_generation(connection, municipality_code)


def section_on(connection: Connection, municipality_code: str, user_id: str, day: date) -> str | None:
    """The section of the person holding account ``user_id`` on ``day`` (the latest assignment valid then)."""
    stmt = (
        select(StaffAssignment.section_code)
        .join(
            Account,
            and_(
                Account.municipality_code == StaffAssignment.municipality_code,
                Account.staff_id == StaffAssignment.staff_id,
            ),
        )
        .where(
            Account.municipality_code == municipality_code,
            Account.user_id == user_id,
            valid_on(StaffAssignment.valid_from, StaffAssignment.valid_to, day),
        )
        .order_by(StaffAssignment.valid_from.desc(), StaffAssignment.id.desc())
        .limit(1)
    )
    value = connection.execute(stmt).scalar()
    return None if value is None else str(value)


# -- requests -----------------------------------------------------------------------------------------


def add_request(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(GrantRequest).values(**values).returning(GrantRequest.id)).scalar_one())


def request_by_id(connection: Connection, municipality_code: str, request_id: int) -> dict[str, Any] | None:
    stmt = select(table_of(GrantRequest)).where(
        GrantRequest.municipality_code == municipality_code, GrantRequest.id == request_id
    )
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def decide_request(
    connection: Connection, municipality_code: str, request_id: int, *, status: str, **values: Any
) -> bool:
    """Decide a pending request; False when it was decided meanwhile (two approvers racing)."""
    done = connection.execute(
        update(GrantRequest)
        .where(
            GrantRequest.municipality_code == municipality_code,
            GrantRequest.id == request_id,
            GrantRequest.status == "pending",
        )
        .values(status=status, **values)
    )
    return bool(done.rowcount)


def requests(
    connection: Connection, principal: Principal, *, status: str | None, user_id: str | None, today: date, limit: int
) -> list[dict[str, Any]]:
    table = table_of(GrantRequest)
    stmt = select(table).where(
        table.c.municipality_code == principal.municipality_code,
        readable(principal, table.c.user_id, table.c.valid_from, today),
    )
    if status is not None:
        stmt = stmt.where(table.c.status == status)
    if user_id is not None:
        stmt = stmt.where(table.c.user_id == user_id)
    stmt = stmt.order_by(table.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


# -- grants -------------------------------------------------------------------------------------------


def add_grant(connection: Connection, **values: Any) -> int:
    grant_id = int(connection.execute(insert(Grant).values(**values).returning(Grant.id)).scalar_one())
    bump_generation(connection, values["municipality_code"])
    return grant_id


def grant_by_id(connection: Connection, municipality_code: str, grant_id: int) -> dict[str, Any] | None:
    stmt = select(table_of(Grant)).where(Grant.municipality_code == municipality_code, Grant.id == grant_id)
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def set_grant_status(
    connection: Connection,
    municipality_code: str,
    ended: Mapping[int, date],
    status: str,
    *,
    was: Sequence[str],
) -> int:
    """Move grants (id → the day it takes effect) to ``status`` from one of ``was``, one statement per
    distinct day; the number of grants moved. A grant keeps the earliest day it ended."""
    by_day: dict[date, list[int]] = {}
    for grant_id, day in ended.items():
        by_day.setdefault(day, []).append(grant_id)
    moved = 0
    for day, grant_ids in by_day.items():
        done = connection.execute(
            update(Grant)
            .where(Grant.municipality_code == municipality_code, Grant.id.in_(grant_ids), Grant.status.in_(was))
            .values(status=status, ended_on=func.coalesce(Grant.ended_on, day))
        )
        moved += int(done.rowcount)
    if ended:
        bump_generation(connection, municipality_code)
    return moved


def grants(
    connection: Connection,
    principal: Principal,
    *,
    user_id: str | None,
    status: str | None,
    today: date,
    without_expiry: bool = False,
    limit: int,
) -> list[dict[str, Any]]:
    table = table_of(Grant)
    stmt = select(table).where(
        table.c.municipality_code == principal.municipality_code,
        readable(principal, table.c.user_id, table.c.valid_from, today),
    )
    if user_id is not None:
        stmt = stmt.where(table.c.user_id == user_id)
    if status is not None:
        stmt = stmt.where(table.c.status == status)
    if without_expiry:
        stmt = stmt.where(table.c.valid_to.is_(None))
    stmt = stmt.order_by(table.c.user_id, table.c.valid_from, table.c.id).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def active_grants_frame(connection: Connection, municipality_code: str, on: date) -> pd.DataFrame:
    """Active grants that have started by ``on`` and not ended, with their holder (staff id)."""
    stmt = (
        select(Grant.id, Grant.user_id, Grant.role, Grant.valid_from, Account.staff_id)
        .join(Account, and_(Account.municipality_code == Grant.municipality_code, Account.user_id == Grant.user_id))
        .where(
            Grant.municipality_code == municipality_code,
            Grant.status == "active",
            Grant.valid_from <= on,
            or_(Grant.valid_to.is_(None), Grant.valid_to > on),
            Account.staff_id.is_not(None),
        )
    )
    return pd.DataFrame(
        connection.execute(stmt).all(), columns=["grant_id", "user_id", "role", "valid_from", "staff_id"]
    )


def retirements_frame(connection: Connection, municipality_code: str, on: date) -> pd.DataFrame:
    stmt = select(Staff.staff_id, Staff.retired_on).where(
        Staff.municipality_code == municipality_code, Staff.retired_on.is_not(None), Staff.retired_on <= on
    )
    return pd.DataFrame(connection.execute(stmt).all(), columns=["staff_id", "retired_on"])


def assignments_on_frame(connection: Connection, municipality_code: str, on: date) -> pd.DataFrame:
    """Every person's assignments valid on ``on`` (the latest first when there are several)."""
    stmt = (
        select(StaffAssignment.staff_id, StaffAssignment.section_code, StaffAssignment.valid_from)
        .where(
            StaffAssignment.municipality_code == municipality_code,
            valid_on(StaffAssignment.valid_from, StaffAssignment.valid_to, on),
        )
        .order_by(StaffAssignment.staff_id, StaffAssignment.valid_from.desc(), StaffAssignment.id.desc())
    )
    return pd.DataFrame(connection.execute(stmt).all(), columns=["staff_id", "section_code", "assigned_from"])


# -- grant events -------------------------------------------------------------------------------------


def add_events(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(table_of(GrantEvent)), rows)


def last_event(connection: Connection, municipality_code: str, **where: Any) -> dict[str, Any]:
    table = table_of(GrantEvent)
    stmt = select(table).where(table.c.municipality_code == municipality_code)
    for name, value in where.items():
        stmt = stmt.where(table.c[name] == value)
    row = connection.execute(stmt.order_by(table.c.id.desc()).limit(1)).one()
    return dict(row._mapping)


def history(connection: Connection, principal: Principal, grant_id: int, today: date) -> list[dict[str, Any]] | None:
    """Every step of a grant, oldest first, with those of the request it was issued for; None when
    there is no such grant that ``principal`` may see."""
    grant = select(Grant.id).where(
        Grant.municipality_code == principal.municipality_code,
        Grant.id == grant_id,
        readable(principal, Grant.user_id, Grant.valid_from, today),
    )
    if connection.execute(grant).first() is None:
        return None
    requests = select(GrantRequest.id).where(
        GrantRequest.municipality_code == principal.municipality_code, GrantRequest.grant_id == grant_id
    )
    table = table_of(GrantEvent)
    stmt = (
        select(table)
        .where(
            table.c.municipality_code == principal.municipality_code,
            or_(table.c.grant_id == grant_id, table.c.request_id.in_(requests)),
        )
        .order_by(table.c.id)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def flagged(connection: Connection, municipality_code: str, grant_ids: Sequence[int]) -> set[tuple[int, date]]:
    """(grant, effective day) pairs already flagged, so a repeated run does not flag them again."""
    if not grant_ids:
        return set()
    stmt = select(GrantEvent.grant_id, GrantEvent.effective_on).where(
        GrantEvent.municipality_code == municipality_code,
        GrantEvent.action == "flagged",
        GrantEvent.grant_id.in_(list(grant_ids)),
    )
    return {(int(g), d) for g, d in connection.execute(stmt) if g is not None and d is not None}


def lapse_day(connection: Connection, municipality_code: str, grant_id: int) -> date | None:
    """The earliest day the personnel register said the grant lapsed (flagged or suspended), if any."""
    stmt = select(func.min(GrantEvent.effective_on)).where(
        GrantEvent.municipality_code == municipality_code,
        GrantEvent.grant_id == grant_id,
        GrantEvent.action.in_(("flagged", "suspended")),
    )
    value = connection.execute(stmt).scalar()
    return value if isinstance(value, date) else None


def flagged_open(connection: Connection, principal: Principal, today: date) -> int:
    """Grants flagged as lapsed that are still active: a lag still running."""
    stmt = select(func.count()).where(
        Grant.municipality_code == principal.municipality_code,
        Grant.status == "active",
        exists(
            select(literal(1)).where(
                GrantEvent.municipality_code == Grant.municipality_code,
                GrantEvent.grant_id == Grant.id,
                GrantEvent.action == "flagged",
            )
        ),
        readable(principal, Grant.user_id, Grant.valid_from, today),
    )
    return int(connection.execute(stmt).scalar_one())


def lag_rows(connection: Connection, municipality_code: str, principal: Principal, today: date) -> list[dict[str, Any]]:
    """The first suspension or revocation of each grant, with its effective day (one statement)."""
    first = (
        select(GrantEvent.grant_id, func.min(GrantEvent.id).label("event_id"))
        .where(
            GrantEvent.municipality_code == municipality_code,
            GrantEvent.action.in_(("suspended", "revoked")),
            GrantEvent.grant_id.is_not(None),
            GrantEvent.effective_on.is_not(None),
        )
        .group_by(GrantEvent.grant_id)
        .subquery()
    )
    stmt = (
        select(
            Grant.id.label("grant_id"),
            Grant.user_id,
            Grant.role,
            GrantEvent.action,
            GrantEvent.effective_on,
            GrantEvent.ts.label("done_at"),
        )
        .select_from(first)
        .join(GrantEvent, GrantEvent.id == first.c.event_id)
        .join(Grant, and_(Grant.municipality_code == municipality_code, Grant.id == first.c.grant_id))
        .where(readable(principal, Grant.user_id, Grant.valid_from, today))
        .order_by(Grant.id)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


# -- inventories --------------------------------------------------------------------------------------


def dormant_accounts(
    connection: Connection, municipality_code: str, since: datetime, today: date, limit: int
) -> list[dict[str, Any]]:
    """Accounts in use (not disabled) without a successful login since ``since``: the last login of
    every account in one aggregate over the login events, joined to the accounts."""
    last_login = (
        select(Event.user_id, func.max(Event.ts).label("last_login"))
        .where(Event.municipality_code == municipality_code, Event.action == "login", Event.result == "success")
        .group_by(Event.user_id)
        .subquery()
    )
    active_grants = (
        select(Grant.user_id, func.count().label("n"))
        .where(
            Grant.municipality_code == municipality_code,
            Grant.status == "active",
            valid_on(Grant.valid_from, Grant.valid_to, today),
        )
        .group_by(Grant.user_id)
        .subquery()
    )
    stmt = (
        select(
            Account.user_id,
            Account.staff_id,
            Account.kind,
            last_login.c.last_login,
            func.coalesce(active_grants.c.n, 0).label("active_grants"),
        )
        .outerjoin(last_login, last_login.c.user_id == Account.user_id)
        .outerjoin(active_grants, active_grants.c.user_id == Account.user_id)
        .where(
            Account.municipality_code == municipality_code,
            or_(Account.disabled_on.is_(None), Account.disabled_on > today),
            or_(last_login.c.last_login.is_(None), last_login.c.last_login < since),
        )
        .order_by(last_login.c.last_login.is_not(None), last_login.c.last_login, Account.user_id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]
