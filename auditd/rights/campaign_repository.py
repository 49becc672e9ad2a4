"""All SQL of recertification campaigns (権限表の見直し). What a person may see of a campaign's items
goes through :func:`items_readable`, the one place where a section head is narrowed to the items of
their own section."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, insert, literal, or_, select, true, update

from auditd.auth.models import PlatformRole, PlatformUser
from auditd.auth.schemas import Principal
from auditd.events.models import AccountDay
from auditd.mail.models import MailRecipient
from auditd.reference.models import Account, Grant
from auditd.rights.models import RecertCampaign, RecertEvent, RecertItem
from auditd.rights.repository import current_section
from auditd.store.base import table_of

#: Ids per ``IN (...)``: far below SQLite's bound-value limit.
CHUNK = 500

# -- scope --------------------------------------------------------------------------------------------


def items_readable(principal: Principal) -> ColumnElement[bool]:
    """The items ``principal`` may see and decide: all of the municipality's, or for a section head the
    items of their own section. The reviewing section is the holder's section when the campaign opened
    (taken with :func:`auditd.rights.repository.current_section`, as the rest of rights scopes people),
    so that a transfer during the campaign neither hides an item from its reviewer nor shows it to two."""
    if not principal.is_section_scoped:
        return true()
    if principal.section_code is None:
        return literal(False)
    return RecertItem.section_code == principal.section_code


# -- campaigns ----------------------------------------------------------------------------------------


def add_campaign(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(RecertCampaign).values(**values).returning(RecertCampaign.id)).scalar_one())


def campaign(connection: Connection, municipality_code: str, campaign_id: int) -> dict[str, Any] | None:
    stmt = select(table_of(RecertCampaign)).where(
        RecertCampaign.municipality_code == municipality_code, RecertCampaign.id == campaign_id
    )
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def campaigns(
    connection: Connection, municipality_code: str, *, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    stmt = select(table_of(RecertCampaign)).where(RecertCampaign.municipality_code == municipality_code)
    if status is not None:
        stmt = stmt.where(RecertCampaign.status == status)
    stmt = stmt.order_by(RecertCampaign.starts_on.desc(), RecertCampaign.id.desc()).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def scheduled_since(connection: Connection, municipality_code: str, first_day: date) -> bool:
    """Whether a scheduled campaign started on ``first_day`` or later."""
    stmt = select(RecertCampaign.id).where(
        RecertCampaign.municipality_code == municipality_code,
        RecertCampaign.trigger == "scheduled",
        RecertCampaign.starts_on >= first_day,
    )
    return connection.execute(stmt.limit(1)).first() is not None


def update_campaign(connection: Connection, municipality_code: str, campaign_id: int, **values: Any) -> bool:
    done = connection.execute(
        update(RecertCampaign)
        .where(
            RecertCampaign.municipality_code == municipality_code,
            RecertCampaign.id == campaign_id,
            RecertCampaign.status == "open",
        )
        .values(**values)
    )
    return bool(done.rowcount)


def progress(connection: Connection, principal: Principal, campaign_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per campaign, the items ``principal`` may see, how many are decided and how many unused."""
    if not campaign_ids:
        return {}
    stmt = (
        select(
            RecertItem.campaign_id,
            func.count(),
            func.sum(case((RecertItem.decision.is_not(None), 1), else_=0)),
            func.sum(case((RecertItem.lookups == 0, 1), else_=0)),
        )
        .where(
            RecertItem.municipality_code == principal.municipality_code,
            RecertItem.campaign_id.in_(list(campaign_ids)),
            items_readable(principal),
        )
        .group_by(RecertItem.campaign_id)
    )
    return {
        int(cid): {"items": int(n), "decided": int(d or 0), "unused": int(u or 0)}
        for cid, n, d, u in connection.execute(stmt)
    }


# -- the snapshot -------------------------------------------------------------------------------------


def grants_under_review(connection: Connection, municipality_code: str, on: date) -> list[dict[str, Any]]:
    """Active grants in force on ``on``, with their holder's section that day (None: no holder or no
    assignment — reviewed by the officers)."""
    stmt = (
        select(
            Grant.id.label("grant_id"),
            Grant.user_id,
            Grant.role,
            Grant.valid_from,
            Grant.valid_to,
            current_section(municipality_code, Account.staff_id, on).label("section_code"),
        )
        .outerjoin(
            Account, and_(Account.municipality_code == Grant.municipality_code, Account.user_id == Grant.user_id)
        )
        .where(
            Grant.municipality_code == municipality_code,
            Grant.status == "active",
            Grant.valid_from <= on,
            or_(Grant.valid_to.is_(None), Grant.valid_to > on),
        )
        .order_by(Grant.user_id, Grant.id)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


def usage(
    connection: Connection, municipality_code: str, user_ids: Sequence[str], first_day: date, end_day: date
) -> dict[str, dict[str, Any]]:
    """Per account, from the ``account_days`` rollup (never the events): its events and days of use over
    ``first_day`` ≤ day < ``end_day``, and the last day it was used before ``end_day``."""
    found: dict[str, dict[str, Any]] = {}
    ids = sorted(set(user_ids))
    in_window = and_(AccountDay.day >= first_day, AccountDay.day < end_day)
    for start in range(0, len(ids), CHUNK):
        stmt = (
            select(
                AccountDay.user_id,
                func.sum(case((in_window, AccountDay.events), else_=0)),
                func.sum(case((in_window, 1), else_=0)),
                func.max(AccountDay.day),
            )
            .where(
                AccountDay.municipality_code == municipality_code,
                AccountDay.day < end_day,
                AccountDay.user_id.in_(ids[start : start + CHUNK]),
            )
            .group_by(AccountDay.user_id)
        )
        for user_id, events, days, last in connection.execute(stmt):
            found[str(user_id)] = {"lookups": int(events or 0), "active_days": int(days or 0), "last_used": last}
    return found


def add_items(connection: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(table_of(RecertItem)), rows)


# -- items --------------------------------------------------------------------------------------------


def items(
    connection: Connection,
    principal: Principal,
    campaign_id: int,
    *,
    section_code: str | None = None,
    undecided: bool = False,
    limit: int = 5000,
) -> list[dict[str, Any]]:
    table = table_of(RecertItem)
    stmt = select(table).where(
        RecertItem.municipality_code == principal.municipality_code,
        RecertItem.campaign_id == campaign_id,
        items_readable(principal),
    )
    if section_code is not None:
        stmt = stmt.where(RecertItem.section_code == section_code)
    if undecided:
        stmt = stmt.where(RecertItem.decision.is_(None))
    stmt = stmt.order_by(RecertItem.section_code, RecertItem.user_id, RecertItem.id).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def item(connection: Connection, principal: Principal, campaign_id: int, item_id: int) -> dict[str, Any] | None:
    """One item ``principal`` may see; None when missing or another section's (the same answer)."""
    stmt = select(table_of(RecertItem)).where(
        RecertItem.municipality_code == principal.municipality_code,
        RecertItem.campaign_id == campaign_id,
        RecertItem.id == item_id,
        items_readable(principal),
    )
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def decide_item(connection: Connection, municipality_code: str, item_id: int, **values: Any) -> bool:
    """Record a decision on an undecided item; False when it was decided meanwhile."""
    done = connection.execute(
        update(RecertItem)
        .where(
            RecertItem.municipality_code == municipality_code,
            RecertItem.id == item_id,
            RecertItem.decision.is_(None),
        )
        .values(**values)
    )
    return bool(done.rowcount)


def undecided_by_section(connection: Connection, municipality_code: str, campaign_id: int) -> dict[str | None, int]:
    """Section → items still undecided (None: items of no section)."""
    stmt = (
        select(RecertItem.section_code, func.count())
        .where(
            RecertItem.municipality_code == municipality_code,
            RecertItem.campaign_id == campaign_id,
            RecertItem.decision.is_(None),
        )
        .group_by(RecertItem.section_code)
    )
    return {None if s is None else str(s): int(n) for s, n in connection.execute(stmt)}


def flag_undecided(connection: Connection, municipality_code: str, campaign_id: int, now: datetime) -> list[int]:
    """Flag the items still undecided (and not flagged before); their ids."""
    ids = [
        int(i)
        for i in connection.execute(
            select(RecertItem.id).where(
                RecertItem.municipality_code == municipality_code,
                RecertItem.campaign_id == campaign_id,
                RecertItem.decision.is_(None),
                RecertItem.flagged_at.is_(None),
            )
        ).scalars()
    ]
    for start in range(0, len(ids), CHUNK):
        connection.execute(
            update(RecertItem)
            .where(RecertItem.municipality_code == municipality_code, RecertItem.id.in_(ids[start : start + CHUNK]))
            .values(flagged_at=now)
        )
    return ids


def section_counts(connection: Connection, principal: Principal, campaign_id: int) -> list[dict[str, Any]]:
    """The report's figures per reviewing section, in one statement."""
    decided = RecertItem.decision.is_not(None)
    unused = RecertItem.lookups == 0

    def count(condition: ColumnElement[bool]) -> Any:
        return func.sum(case((condition, 1), else_=0))

    stmt = (
        select(
            RecertItem.section_code,
            func.count().label("items"),
            count(decided).label("reviewed"),
            count(RecertItem.decision == "keep").label("kept"),
            count(RecertItem.decision == "revoke").label("revoked"),
            count(RecertItem.decision == "change").label("changed"),
            count(RecertItem.decision.is_(None)).label("unreviewed"),
            count(RecertItem.flagged_at.is_not(None)).label("flagged"),
            count(unused).label("unused"),
            count(and_(unused, RecertItem.decision == "keep")).label("unused_kept"),
        )
        .where(
            RecertItem.municipality_code == principal.municipality_code,
            RecertItem.campaign_id == campaign_id,
            items_readable(principal),
        )
        .group_by(RecertItem.section_code)
        .order_by(RecertItem.section_code)
    )
    return [
        {k: (v if k == "section_code" else int(v or 0)) for k, v in row._mapping.items()}
        for row in connection.execute(stmt)
    ]


# -- the campaign's log -------------------------------------------------------------------------------


def add_event(connection: Connection, **values: Any) -> None:
    connection.execute(insert(table_of(RecertEvent)).values(**values))


def has_event(
    connection: Connection,
    municipality_code: str,
    campaign_id: int,
    action: str,
    *,
    section_code: str | None = None,
    on_day: date | None = None,
) -> bool:
    stmt = select(RecertEvent.id).where(
        RecertEvent.municipality_code == municipality_code,
        RecertEvent.campaign_id == campaign_id,
        RecertEvent.action == action,
    )
    if section_code is not None:
        stmt = stmt.where(RecertEvent.section_code == section_code)
    if on_day is not None:
        stmt = stmt.where(RecertEvent.on_day == on_day)
    return connection.execute(stmt.limit(1)).first() is not None


def events(connection: Connection, municipality_code: str, campaign_id: int, limit: int = 500) -> list[dict[str, Any]]:
    table = table_of(RecertEvent)
    stmt = (
        select(table)
        .where(table.c.municipality_code == municipality_code, table.c.campaign_id == campaign_id)
        .order_by(table.c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in connection.execute(stmt)]


# -- who is told --------------------------------------------------------------------------------------


def platform_users(
    connection: Connection, municipality_code: str, role: PlatformRole, section_code: str | None = None
) -> list[str]:
    """Usernames of the enabled platform users of ``role`` (of ``section_code``, if given)."""
    stmt = select(PlatformUser.username).where(
        PlatformUser.municipality_code == municipality_code,
        PlatformUser.role == role.value,
        PlatformUser.disabled.is_(False),
    )
    if section_code is not None:
        stmt = stmt.where(PlatformUser.section_code == section_code)
    return sorted(str(u) for u in connection.execute(stmt).scalars())


def reminder_recipients(connection: Connection, municipality_code: str) -> list[tuple[str, str | None]]:
    """(address, sections JSON or None) of the active mail recipients that take reminders."""
    stmt = select(MailRecipient.address, MailRecipient.sections).where(
        MailRecipient.municipality_code == municipality_code,
        MailRecipient.active.is_(True),
        MailRecipient.reminders.is_(True),
    )
    return [(str(a), None if s is None else str(s)) for a, s in connection.execute(stmt)]
