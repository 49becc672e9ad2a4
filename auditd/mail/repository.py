"""All SQL of alert e-mail: recipients, queueing into the outbox, and claiming and settling messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from auditd.mail.models import MailOutbox, MailRecipient
from auditd.store.base import table_of

# -- recipients ---------------------------------------------------------------------------------------


#: Messages inserted per statement (14 values each).
OUTBOX_CHUNK = 1000


def add_recipient(connection: Connection, **values: Any) -> int:
    return int(connection.execute(insert(MailRecipient).values(**values).returning(MailRecipient.id)).scalar_one())


def recipients(connection: Connection, municipality_code: str, *, active_only: bool = True) -> list[dict[str, Any]]:
    table = table_of(MailRecipient)
    stmt = select(table).where(table.c.municipality_code == municipality_code)
    if active_only:
        stmt = stmt.where(table.c.active.is_(True))
    return [dict(row._mapping) for row in connection.execute(stmt.order_by(table.c.id))]


def recipient_by_id(connection: Connection, municipality_code: str, recipient_id: int) -> dict[str, Any] | None:
    table = table_of(MailRecipient)
    row = connection.execute(
        select(table).where(table.c.municipality_code == municipality_code, table.c.id == recipient_id)
    ).first()
    return None if row is None else dict(row._mapping)


def deactivate_recipient(connection: Connection, municipality_code: str, recipient_id: int) -> bool:
    done = connection.execute(
        update(MailRecipient)
        .where(
            MailRecipient.municipality_code == municipality_code,
            MailRecipient.id == recipient_id,
            MailRecipient.active.is_(True),
        )
        .values(active=False)
    )
    return bool(done.rowcount)


# -- outbox -------------------------------------------------------------------------------------------


def enqueue(connection: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert outbox rows; a row whose (municipality, dedupe key) is already there is skipped, even when
    another transaction inserted it meanwhile. Returns the number of rows inserted."""
    if not rows:
        return 0
    table = table_of(MailOutbox)
    dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    rows = list(rows)
    added = 0
    # one multi-row statement per chunk: SQLite takes at most 32,766 bound values in a statement
    for i in range(0, len(rows), OUTBOX_CHUNK):
        stmt = dialect_insert(table).values(rows[i : i + OUTBOX_CHUNK])
        stmt = stmt.on_conflict_do_nothing(index_elements=["municipality_code", "dedupe_key"])
        # rows skipped by the conflict return nothing; rowcount is not reliable for this on every driver
        added += len(connection.execute(stmt.returning(table.c.id)).all())
    return added


def outbox(
    connection: Connection, municipality_code: str, *, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    table = table_of(MailOutbox)
    stmt = select(
        table.c.id,
        table.c.dedupe_key,
        table.c.recipient,
        table.c.kind,
        table.c.subject,
        table.c.status,
        table.c.attempts,
        table.c.next_attempt_at,
        table.c.last_error,
        table.c.created_at,
        table.c.sent_at,
        table.c.message_id,
    ).where(table.c.municipality_code == municipality_code)
    if status is not None:
        stmt = stmt.where(table.c.status == status)
    return [dict(row._mapping) for row in connection.execute(stmt.order_by(table.c.id.desc()).limit(limit))]


def message(connection: Connection, municipality_code: str, message_id: int) -> dict[str, Any] | None:
    table = table_of(MailOutbox)
    row = connection.execute(
        select(table).where(table.c.municipality_code == municipality_code, table.c.id == message_id)
    ).first()
    return None if row is None else dict(row._mapping)


def message_id_by_key(connection: Connection, municipality_code: str, dedupe_key: str) -> int | None:
    table = table_of(MailOutbox)
    found = connection.execute(
        select(table.c.id).where(table.c.municipality_code == municipality_code, table.c.dedupe_key == dedupe_key)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def due(
    connection: Connection, municipality_code: str, now: datetime, *, limit: int, ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Messages that may be tried now: queued and due, or ``sending`` whose claim has expired (the sender
    died between claiming and settling). Oldest first. Only what a claim needs to compare is read."""
    table = table_of(MailOutbox)
    stmt = select(table.c.id, table.c.status, table.c.next_attempt_at, table.c.attempts).where(
        table.c.municipality_code == municipality_code,
        or_(table.c.status == "queued", table.c.status == "sending"),
        table.c.next_attempt_at <= now,
    )
    if ids is not None:
        stmt = stmt.where(table.c.id.in_(list(ids)))
    stmt = stmt.order_by(table.c.next_attempt_at, table.c.id).limit(limit)
    return [dict(row._mapping) for row in connection.execute(stmt)]


def claim(
    connection: Connection,
    municipality_code: str,
    message_id: int,
    *,
    status: str,
    next_attempt_at: datetime,
    lease_until: datetime,
) -> dict[str, Any] | None:
    """Take a message for sending: ``sending`` until ``lease_until``, one more attempt counted.

    The update only matches while the row is as it was read (status and due time), so of two senders
    racing for one message exactly one gets it, on SQLite and on PostgreSQL alike. Returns the claimed
    row, or None when another sender was first."""
    table = table_of(MailOutbox)
    done = connection.execute(
        update(table)
        .where(
            table.c.municipality_code == municipality_code,
            table.c.id == message_id,
            table.c.status == status,
            table.c.next_attempt_at == next_attempt_at,
        )
        .values(status="sending", next_attempt_at=lease_until, attempts=table.c.attempts + 1)
    )
    if not done.rowcount:
        return None
    return message(connection, municipality_code, message_id)


def settle(
    connection: Connection, municipality_code: str, message_id: int, *, lease_until: datetime, **values: Any
) -> bool:
    """Record the outcome of an attempt, if the claim is still ours (not expired and taken by another)."""
    table = table_of(MailOutbox)
    done = connection.execute(
        update(table)
        .where(
            table.c.municipality_code == municipality_code,
            table.c.id == message_id,
            table.c.status == "sending",
            table.c.next_attempt_at == lease_until,
        )
        .values(**values)
    )
    return bool(done.rowcount)
