"""All SQL of the rights lifecycle. Reads for people go through :func:`readable`, which is where a
section head is narrowed to the staff of their own section; routes never add their own filters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import aliased

from auditd.auth.schemas import Principal
from auditd.events.models import AccountDay, Event
from auditd.reference.models import Account, Grant, Section, Staff, StaffAssignment
from auditd.reference.repository import bump_generation, valid_on
from auditd.rights.models import Contract, ContractOperator, GrantEvent, GrantRequest
from auditd.store.base import table_of
from auditd.store.sql import local_day, local_hour

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
    return _dormant(connection, municipality_code, last_login, last_login.c.last_login < since, today, limit)


def _dormant(
    connection: Connection, municipality_code: str, last_login: Any, idle: Any, today: date, limit: int
) -> list[dict[str, Any]]:
    """Accounts in use (not disabled) whose ``last_login`` (a subquery of user_id, last_login) is none
    or ``idle``, with their grants active ``today``, the longest idle first."""
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
            or_(last_login.c.last_login.is_(None), idle),
        )
        .order_by(last_login.c.last_login.is_not(None), last_login.c.last_login, Account.user_id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


# -- reads of the dashboard's 職員 and 権限管理 pages -----------------------------------------------------------


def _like(text: str) -> str:
    """A LIKE pattern for ``text`` anywhere, with the pattern's own characters escaped (``\\``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def current_section(municipality_code: str, staff_id: Any, today: date) -> Any:
    """The section of the person ``staff_id`` on ``today`` (their latest assignment valid then), as a
    correlated scalar subquery."""
    return (
        select(StaffAssignment.section_code)
        .where(
            StaffAssignment.municipality_code == municipality_code,
            StaffAssignment.staff_id == staff_id,
            valid_on(StaffAssignment.valid_from, StaffAssignment.valid_to, today),
        )
        .order_by(StaffAssignment.valid_from.desc(), StaffAssignment.id.desc())
        .limit(1)
        .scalar_subquery()
    )


#: The accounts of an outer query: an alias, so that :func:`readable` and :func:`in_section`, which
#: select from ``accounts`` themselves, are correlated with it through ``user_id`` only.
_Holder = aliased(Account, name="holder")


def _accounts_of(municipality_code: str, today: date) -> Any:
    return select(
        _Holder.user_id,
        _Holder.kind,
        _Holder.staff_id,
        _Holder.created_on,
        _Holder.disabled_on,
        Staff.name,
        Staff.name_kana,
        Staff.employment,
        Staff.contractor,
        Staff.retired_on,
        current_section(municipality_code, _Holder.staff_id, today).label("section_code"),
    ).outerjoin(Staff, and_(Staff.municipality_code == _Holder.municipality_code, Staff.staff_id == _Holder.staff_id))


def staff_accounts(
    connection: Connection,
    principal: Principal,
    *,
    today: date,
    search: str | None = None,
    section_code: str | None = None,
    limit: int,
) -> list[dict[str, Any]]:
    """Operator accounts with their holder and the holder's section today, ordered by account; a
    section head sees only the accounts of people in their section today. ``search`` matches the
    account, the staff id, the name or its kana (any part, case-insensitive)."""
    mc = principal.municipality_code
    stmt = _accounts_of(mc, today).where(_Holder.municipality_code == mc, readable(principal, _Holder.user_id, today))
    if search:
        pattern = _like(search.lower())
        stmt = stmt.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (_Holder.user_id, _Holder.staff_id, Staff.name, Staff.name_kana)
                )
            )
        )
    if section_code:
        stmt = stmt.where(in_section(mc, section_code, _Holder.user_id, [today]))
    stmt = stmt.order_by(_Holder.user_id).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def staff_account(connection: Connection, principal: Principal, user_id: str, today: date) -> dict[str, Any] | None:
    """One account with its holder, or None when there is none that ``principal`` may see (a section
    head: the holder is in their section today)."""
    mc = principal.municipality_code
    stmt = _accounts_of(mc, today).where(
        _Holder.municipality_code == mc, _Holder.user_id == user_id, readable(principal, _Holder.user_id, today)
    )
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def assignments_of(connection: Connection, municipality_code: str, staff_id: str) -> list[dict[str, Any]]:
    """A person's sections over time, the latest first."""
    stmt = (
        select(
            StaffAssignment.section_code,
            StaffAssignment.valid_from,
            StaffAssignment.valid_to,
            StaffAssignment.position,
        )
        .where(StaffAssignment.municipality_code == municipality_code, StaffAssignment.staff_id == staff_id)
        .order_by(StaffAssignment.valid_from.desc(), StaffAssignment.id.desc())
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def section_names(connection: Connection, municipality_code: str) -> dict[str, str]:
    """Section code → name (the sections feed), in code order."""
    stmt = select(Section.section_code, Section.name).where(Section.municipality_code == municipality_code)
    return {str(code): str(name) for code, name in connection.execute(stmt.order_by(Section.section_code))}


def assigned_sections(connection: Connection, municipality_code: str, today: date) -> list[str]:
    """The sections somebody is assigned to today (for filters, when the sections feed is not loaded)."""
    stmt = (
        select(StaffAssignment.section_code)
        .where(
            StaffAssignment.municipality_code == municipality_code,
            valid_on(StaffAssignment.valid_from, StaffAssignment.valid_to, today),
        )
        .distinct()
    )
    return sorted(str(code) for code in connection.execute(stmt).scalars())


def section_accounts(connection: Connection, municipality_code: str, section_code: str, today: date) -> list[str]:
    """The accounts of the people in ``section_code`` today."""
    stmt = select(_Holder.user_id).where(
        _Holder.municipality_code == municipality_code,
        in_section(municipality_code, section_code, _Holder.user_id, [today]),
    )
    return sorted(str(user_id) for user_id in connection.execute(stmt).scalars())


def account_day_totals(
    connection: Connection, municipality_code: str, first_day: date, last_day: date, user_ids: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Per account of ``user_ids``, summed over Japan-time days ``first_day``–``last_day`` of the
    ``account_days`` rollup: the days it was used, its events, residents touched and outputs."""
    table = table_of(AccountDay)
    found: dict[str, dict[str, int]] = {}
    ids = list(user_ids)
    for start in range(0, len(ids), 500):
        stmt = (
            select(
                table.c.user_id,
                func.count(),
                func.sum(table.c.events),
                func.sum(table.c.subjects),
                func.sum(table.c.outputs),
            )
            .where(
                table.c.municipality_code == municipality_code,
                table.c.day >= first_day,
                table.c.day <= last_day,
                table.c.user_id.in_(ids[start : start + 500]),
            )
            .group_by(table.c.user_id)
        )
        for user_id, days, events, subjects, outputs in connection.execute(stmt):
            found[str(user_id)] = {
                "days": int(days),
                "events": int(events or 0),
                "subjects": int(subjects or 0),
                "outputs": int(outputs or 0),
            }
    return found


def activity_cells(
    connection: Connection, municipality_code: str, user_id: str, start: datetime, end: datetime
) -> list[tuple[str, int, str, int]]:
    """One account's events with ``start <= ts < end`` counted in SQL by Japan-time day, hour and
    system: read through ``ix_events_user_ts`` (municipality, account, time), so the work is bounded
    by that account's events in the window, never by all events. (day ``YYYY-MM-DD``, hour, system, n)."""
    dialect = connection.dialect.name
    events = table_of(Event)
    day = local_day(events.c.ts, dialect).label("day")
    hour = local_hour(events.c.ts, dialect).label("hour")
    stmt = (
        select(day, hour, events.c.system, func.count())
        .where(
            events.c.municipality_code == municipality_code,
            events.c.user_id == user_id,
            events.c.ts >= start,
            events.c.ts < end,
        )
        .group_by(day, hour, events.c.system)
    )
    return [(str(d), int(h), str(s), int(n)) for d, h, s, n in connection.execute(stmt)]


def grant_rows(
    connection: Connection,
    principal: Principal,
    *,
    today: date,
    section_code: str | None = None,
    status: str | None = None,
    expiring_by: date | None = None,
    without_expiry: bool = False,
    limit: int,
) -> list[dict[str, Any]]:
    """Grants with their holder's name and section today, as :func:`grants` scopes them; filtered by
    the holder's section today, the status, and an end (``valid_to``) from today up to ``expiring_by``."""
    mc = principal.municipality_code
    stmt = (
        select(
            *table_of(Grant).c,
            Staff.name,
            current_section(mc, _Holder.staff_id, today).label("section_code"),
        )
        .outerjoin(
            _Holder, and_(_Holder.municipality_code == Grant.municipality_code, _Holder.user_id == Grant.user_id)
        )
        .outerjoin(
            Staff, and_(Staff.municipality_code == _Holder.municipality_code, Staff.staff_id == _Holder.staff_id)
        )
        .where(Grant.municipality_code == mc, readable(principal, Grant.user_id, Grant.valid_from, today))
    )
    if section_code:
        stmt = stmt.where(in_section(mc, section_code, Grant.user_id, [today]))
    if status:
        stmt = stmt.where(Grant.status == status)
    if expiring_by is not None:
        stmt = stmt.where(Grant.valid_to.is_not(None), Grant.valid_to > today, Grant.valid_to <= expiring_by)
    if without_expiry:
        stmt = stmt.where(Grant.valid_to.is_(None))
    order = (
        (Grant.valid_to, Grant.user_id, Grant.id)
        if expiring_by is not None
        else (Grant.user_id, Grant.valid_from, Grant.id)
    )
    stmt = stmt.order_by(*order).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def lapsed_open(connection: Connection, principal: Principal, today: date, limit: int) -> list[dict[str, Any]]:
    """Grants the personnel register made lapse (flagged or suspended) that are not revoked yet: the
    revocations due, with the earliest day they lapsed and the latest step's reason."""
    mc = principal.municipality_code
    lapses = (
        select(
            GrantEvent.grant_id,
            func.min(GrantEvent.effective_on).label("lapsed_on"),
            func.max(GrantEvent.id).label("event_id"),
        )
        .where(
            GrantEvent.municipality_code == mc,
            GrantEvent.action.in_(("flagged", "suspended")),
            GrantEvent.grant_id.is_not(None),
        )
        .group_by(GrantEvent.grant_id)
        .subquery()
    )
    stmt = (
        select(
            Grant.id,
            Grant.user_id,
            Grant.role,
            Grant.valid_from,
            Grant.valid_to,
            Grant.status,
            lapses.c.lapsed_on,
            GrantEvent.action.label("lapse_action"),
            GrantEvent.reason,
            GrantEvent.ts.label("lapse_ts"),
        )
        .select_from(lapses)
        .join(Grant, and_(Grant.municipality_code == mc, Grant.id == lapses.c.grant_id))
        .join(GrantEvent, GrantEvent.id == lapses.c.event_id)
        .where(Grant.status.in_(("active", "suspended")), readable(principal, Grant.user_id, Grant.valid_from, today))
        .order_by(lapses.c.lapsed_on, Grant.id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def account_logins(
    connection: Connection, municipality_code: str, user_id: str, start: datetime, end: datetime, limit: int
) -> list[dict[str, Any]]:
    """One account's latest logins and logouts with ``start <= ts < end``, newest first. Read through
    ``ix_events_user_ts`` (this account's events only) rather than the sessions index that
    :func:`auditd.events.repository.auth_events` uses, which would walk every account's logins of the
    window to find one account's."""
    events = table_of(Event)
    stmt = (
        select(
            events.c.ts,
            events.c.action,
            events.c.result,
            events.c.terminal_id,
            events.c.session_id,
            events.c.auth_factors,
        )
        .where(
            events.c.municipality_code == municipality_code,
            events.c.user_id == user_id,
            events.c.ts >= start,
            events.c.ts < end,
            events.c.action.in_(("login", "logout")),
        )
        .order_by(events.c.ts.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def login_factors(
    connection: Connection, municipality_code: str, user_id: str, start: datetime, end: datetime
) -> dict[str, int]:
    """The factor sets of one account's successful logins with ``start <= ts < end`` and how many each
    (``''``: none recorded), most used first; counted in SQL through ``ix_events_user_ts``."""
    events = table_of(Event)
    factors = func.coalesce(events.c.auth_factors, "")
    stmt = (
        select(factors, func.count())
        .where(
            events.c.municipality_code == municipality_code,
            events.c.user_id == user_id,
            events.c.ts >= start,
            events.c.ts < end,
            events.c.action == "login",
            events.c.result == "success",
        )
        .group_by(factors)
    )
    counted = {str(f): int(n) for f, n in connection.execute(stmt)}
    return dict(sorted(counted.items(), key=lambda item: (-item[1], item[0])))


def dormant_accounts_by_day(
    connection: Connection, municipality_code: str, before: date, today: date, limit: int
) -> list[dict[str, Any]]:
    """Accounts in use (not disabled) whose last successful login was on Japan-time day ``before`` or
    earlier, or never: :func:`dormant_accounts` read from the ``account_days`` rollup (one row per
    account and day) instead of the login events, so a page never walks the events of every year.
    ``last_login`` is a day."""
    table = table_of(AccountDay)
    last_day = (  # each account's latest day with a login: a backward seek on ix_account_days_user_day
        select(table.c.day)
        .where(
            table.c.municipality_code == Account.municipality_code,
            table.c.user_id == Account.user_id,
            table.c.logins > 0,
        )
        .order_by(table.c.day.desc())
        .limit(1)
        .correlate(Account)
        .scalar_subquery()
    )
    last_login = (
        select(Account.user_id, last_day.label("last_login"))
        .where(Account.municipality_code == municipality_code)
        .subquery()
    )
    return _dormant(connection, municipality_code, last_login, last_login.c.last_login <= before, today, limit)


# -- ledger (権限管理表 import and export) ----------------------------------------------------------------


def ledger_rows(connection: Connection, municipality_code: str, on: date | None, today: date) -> list[dict[str, Any]]:
    """The grants of the 権限管理表 with their account and holder: every grant not revoked, or with
    ``on`` those in force that day (started, not ended, not suspended or revoked before it); the
    holder's section on ``on`` (else ``today``). Ordered by account, start, id."""
    stmt = (
        select(
            Grant.id,
            Grant.user_id,
            Grant.role,
            Grant.valid_from,
            Grant.valid_to,
            Grant.status,
            Grant.approver,
            Grant.origin,
            _Holder.staff_id,
            _Holder.kind,
            _Holder.note,
            Staff.name,
            current_section(municipality_code, _Holder.staff_id, on or today).label("section_code"),
        )
        .outerjoin(
            _Holder, and_(_Holder.municipality_code == Grant.municipality_code, _Holder.user_id == Grant.user_id)
        )
        .outerjoin(
            Staff, and_(Staff.municipality_code == _Holder.municipality_code, Staff.staff_id == _Holder.staff_id)
        )
        .where(Grant.municipality_code == municipality_code)
    )
    if on is None:
        stmt = stmt.where(Grant.status != "revoked")
    else:
        stmt = stmt.where(
            valid_on(Grant.valid_from, Grant.valid_to, on),
            or_(Grant.status == "active", Grant.ended_on > on),
        )
    stmt = stmt.order_by(Grant.user_id, Grant.valid_from, Grant.id)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def _chunks(values: Sequence[str], size: int = 500) -> list[list[str]]:
    ids = sorted(set(values))
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def accounts_of(connection: Connection, municipality_code: str, user_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The accounts among ``user_ids``, by account."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(user_ids):
        stmt = select(table_of(Account)).where(
            Account.municipality_code == municipality_code, Account.user_id.in_(chunk)
        )
        found.update({str(row.user_id): dict(row._mapping) for row in connection.execute(stmt)})
    return found


def staff_of(connection: Connection, municipality_code: str, staff_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The people among ``staff_ids`` on the personnel register, by staff id."""
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(staff_ids):
        stmt = select(Staff.staff_id, Staff.name, Staff.employment, Staff.retired_on).where(
            Staff.municipality_code == municipality_code, Staff.staff_id.in_(chunk)
        )
        found.update({str(row.staff_id): dict(row._mapping) for row in connection.execute(stmt)})
    return found


def grants_of(connection: Connection, municipality_code: str, user_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every grant of the accounts ``user_ids`` (any status), oldest first."""
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(user_ids):
        stmt = (
            select(table_of(Grant))
            .where(Grant.municipality_code == municipality_code, Grant.user_id.in_(chunk))
            .order_by(Grant.id)
        )
        rows.extend(dict(row._mapping) for row in connection.execute(stmt))
    return rows


def set_grant_end(connection: Connection, municipality_code: str, grant_id: int, valid_to: date | None) -> None:
    connection.execute(
        update(Grant)
        .where(Grant.municipality_code == municipality_code, Grant.id == grant_id)
        .values(valid_to=valid_to)
    )
    bump_generation(connection, municipality_code)


# -- contractors (委託業者の作業者名簿) -------------------------------------------------------------------


def add_contract(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(Contract).values(**values).returning(Contract.id)).scalar_one())


def contract_by(connection: Connection, municipality_code: str, **where: Any) -> dict[str, Any] | None:
    """The contract with ``id`` or ``contract_number`` as given, or None."""
    table = table_of(Contract)
    stmt = select(table).where(table.c.municipality_code == municipality_code)
    for name, value in where.items():
        stmt = stmt.where(table.c[name] == value)
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def contracts(connection: Connection, municipality_code: str, on: date | None, limit: int) -> list[dict[str, Any]]:
    """Contracts, the latest start first; with ``on`` only those in force that day."""
    table = table_of(Contract)
    stmt = select(table).where(table.c.municipality_code == municipality_code)
    if on is not None:
        stmt = stmt.where(table.c.valid_from <= on, table.c.valid_to > on)
    stmt = stmt.order_by(table.c.valid_from.desc(), table.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def contract_operators(connection: Connection, municipality_code: str, contract_id: int) -> list[dict[str, Any]]:
    """The people working under a contract, with their pledge day and name, by staff id."""
    stmt = (
        select(ContractOperator.staff_id, ContractOperator.contract_id, ContractOperator.pledge_date, Staff.name)
        .outerjoin(
            Staff,
            and_(
                Staff.municipality_code == ContractOperator.municipality_code,
                Staff.staff_id == ContractOperator.staff_id,
            ),
        )
        .where(ContractOperator.municipality_code == municipality_code, ContractOperator.contract_id == contract_id)
        .order_by(ContractOperator.staff_id)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def save_contract_operator(
    connection: Connection, municipality_code: str, contract_id: int, staff_id: str, **values: Any
) -> bool:
    """Put a person under a contract, or update their pledge day; True when they were not under it yet."""
    done = connection.execute(
        update(ContractOperator)
        .where(
            ContractOperator.municipality_code == municipality_code,
            ContractOperator.contract_id == contract_id,
            ContractOperator.staff_id == staff_id,
        )
        .values(**values)
    )
    if done.rowcount:
        return False
    connection.execute(
        insert(ContractOperator).values(
            municipality_code=municipality_code, contract_id=contract_id, staff_id=staff_id, **values
        )
    )
    return True


def contracts_of_staff(connection: Connection, municipality_code: str, staff_id: str) -> list[dict[str, Any]]:
    """The contracts a person works (or worked) under, with their pledge day, the latest start first."""
    stmt = (
        select(*table_of(Contract).c, ContractOperator.pledge_date)
        .join(
            ContractOperator,
            and_(
                ContractOperator.municipality_code == Contract.municipality_code,
                ContractOperator.contract_id == Contract.id,
            ),
        )
        .where(Contract.municipality_code == municipality_code, ContractOperator.staff_id == staff_id)
        .order_by(Contract.valid_from.desc(), Contract.id.desc())
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def contract_windows_frame(connection: Connection, municipality_code: str) -> pd.DataFrame:
    """Every operator's contracts with their work window, for the policy engine (one row per operator
    and contract): staff_id, contract_id, contract_number, valid_from, valid_to (exclusive),
    window_start, window_end (Japan time, None when the contract sets no hours) and weekdays."""
    stmt = (
        select(
            ContractOperator.staff_id,
            Contract.id.label("contract_id"),
            Contract.contract_number,
            Contract.valid_from,
            Contract.valid_to,
            Contract.window_start,
            Contract.window_end,
            Contract.weekdays,
        )
        .join(
            Contract,
            and_(
                Contract.municipality_code == ContractOperator.municipality_code,
                Contract.id == ContractOperator.contract_id,
            ),
        )
        .where(ContractOperator.municipality_code == municipality_code)
    )
    return pd.DataFrame(connection.execute(stmt).all(), columns=list(stmt.selected_columns.keys()))


def staff_row(connection: Connection, municipality_code: str, staff_id: str) -> dict[str, Any] | None:
    stmt = select(Staff.staff_id, Staff.name, Staff.employment, Staff.contractor, Staff.pledge_date).where(
        Staff.municipality_code == municipality_code, Staff.staff_id == staff_id
    )
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def contract_ends_frame(connection: Connection, municipality_code: str, on: date) -> pd.DataFrame:
    """The people on the contractor roster with no contract in force on ``on`` and the day their last
    contract ended by then (``ended_on``: its exclusive end, the first day without a contract)."""
    stmt = (
        select(
            ContractOperator.staff_id,
            func.max(Contract.valid_to).label("ended_on"),
            func.sum(case((valid_on(Contract.valid_from, Contract.valid_to, on), 1), else_=0)).label("in_force"),
        )
        .join(
            Contract,
            and_(
                Contract.municipality_code == ContractOperator.municipality_code,
                Contract.id == ContractOperator.contract_id,
            ),
        )
        .where(ContractOperator.municipality_code == municipality_code, Contract.valid_from <= on)
        .group_by(ContractOperator.staff_id)
    )
    frame = pd.DataFrame(connection.execute(stmt).all(), columns=["staff_id", "ended_on", "in_force"])
    frame = frame[(frame["in_force"].fillna(0) == 0) & (frame["ended_on"] <= on)]
    return frame[["staff_id", "ended_on"]].reset_index(drop=True)


# -- dormant accounts from the rollup ------------------------------------------------------------------


def last_logins_on(
    connection: Connection, municipality_code: str, account_days: Sequence[tuple[str, date]], tz: Any
) -> dict[str, datetime]:
    """The last successful login of each account on its given day (``tz`` days): read through
    ``ix_events_user_ts`` one account-day at a time (OR-ed in chunks), so the work is bounded by
    those days' events of those accounts."""
    found: dict[str, datetime] = {}
    pairs = list(account_days)
    for start in range(0, len(pairs), 100):
        ranges = []
        for user_id, day in pairs[start : start + 100]:
            first = datetime.combine(day, time(0), tzinfo=tz)
            ranges.append(and_(Event.user_id == user_id, Event.ts >= first, Event.ts < first + timedelta(days=1)))
        stmt = (
            select(Event.user_id, func.max(Event.ts))
            .where(
                Event.municipality_code == municipality_code,
                or_(*ranges),
                Event.action == "login",
                Event.result == "success",
            )
            .group_by(Event.user_id)
        )
        found.update({str(user_id): ts for user_id, ts in connection.execute(stmt) if ts is not None})
    return found
