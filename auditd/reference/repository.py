"""All SQL about reference data. Feeds are written in bulk (Core, executemany), never row by row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, tuple_, update

from auditd.reference.models import (
    Account,
    BusinessCase,
    CalendarDay,
    Grant,
    Municipality,
    OutputApproval,
    Overtime,
    ReferenceGeneration,
    Resident,
    Section,
    Staff,
    StaffAssignment,
    Terminal,
    WatchlistEntry,
)
from auditd.store.base import Base, table_of

#: Reference kind → model. The field ``subject`` lands in ``subject_hash``, ``resident`` in
#: ``resident_hash`` and ``household`` in ``household_hash`` (pseudonymised on the way in).
KIND_MODELS: dict[str, type[Base]] = {
    "sections": Section,
    "staff": Staff,
    "assignments": StaffAssignment,
    "accounts": Account,
    "grants": Grant,
    "terminals": Terminal,
    "calendar": CalendarDay,
    "overtime": Overtime,
    "cases": BusinessCase,
    "output_approvals": OutputApproval,
    "watchlist": WatchlistEntry,
    "residents": Resident,
}
#: Import order of reference feeds: what others refer to comes first.
REFERENCE_ORDER: tuple[str, ...] = (
    "sections",
    "staff",
    "assignments",
    "accounts",
    "grants",
    "terminals",
    "calendar",
    "overtime",
    "residents",
    "cases",
    "output_approvals",
    "watchlist",
)
PSEUDONYMISED_FIELDS = {"subject": "subject_hash", "resident": "resident_hash", "household": "household_hash"}

_BATCH = 5000


def natural_key(model: type[Base]) -> list[str]:
    """Primary-key columns other than ``municipality_code`` (empty for surrogate ``id`` keys)."""
    table = table_of(model)
    keys = [c.name for c in table.primary_key.columns if c.name != "municipality_code"]
    return [] if keys == ["id"] else keys


def replace_rows(connection: Connection, model: type[Base], municipality_code: str, rows: list[dict[str, Any]]) -> int:
    """Replace the municipality's rows of a snapshot feed (staff register, terminals …).

    The rights ledger (``grants``) replaces the ledger's own rows only: grants issued through the
    rights lifecycle (origin ``api``) are not in the municipality's spreadsheet and keep their history.
    """
    table = table_of(model)
    stmt = delete(table).where(table.c.municipality_code == municipality_code)
    if model is Grant:
        stmt = stmt.where(table.c.origin != "api")
    connection.execute(stmt)
    bump_generation(connection, municipality_code)
    return _insert(connection, model, rows)


def upsert_rows(connection: Connection, model: type[Base], municipality_code: str, rows: list[dict[str, Any]]) -> int:
    """Add rows, replacing those with the same natural key (cases updated when they close …)."""
    table = table_of(model)
    bump_generation(connection, municipality_code)
    keys = natural_key(model)
    if keys:
        for start in range(0, len(rows), _BATCH):
            chunk = rows[start : start + _BATCH]
            wanted = [tuple(r[k] for k in keys) for r in chunk]
            columns = [table.c[k] for k in keys]
            match = tuple_(*columns).in_(wanted) if len(keys) > 1 else columns[0].in_([w[0] for w in wanted])
            connection.execute(delete(table).where(table.c.municipality_code == municipality_code, match))
    return _insert(connection, model, rows)


def _insert(connection: Connection, model: type[Base], rows: list[dict[str, Any]]) -> int:
    for start in range(0, len(rows), _BATCH):
        connection.execute(insert(table_of(model)), rows[start : start + _BATCH])
    return len(rows)


def count_rows(connection: Connection, model: type[Base], municipality_code: str) -> int:
    table = table_of(model)
    return int(
        connection.execute(
            select(func.count()).select_from(table).where(table.c.municipality_code == municipality_code)
        ).scalar_one()
    )


def ensure_municipality(connection: Connection, code: str, name: str, **values: Any) -> None:
    exists = connection.execute(
        select(Municipality.municipality_code).where(Municipality.municipality_code == code)
    ).first()
    if exists is None:
        connection.execute(insert(Municipality).values(municipality_code=code, name=name, **values))


def valid_on(column_from: Any, column_to: Any, day: Any) -> Any:
    """``valid_from <= day < valid_to`` with open ends."""
    return and_(or_(column_from.is_(None), column_from <= day), or_(column_to.is_(None), column_to > day))


def frame(
    connection: Connection, model: type[Base], municipality_code: str, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """A reference table of one municipality as a DataFrame (reference tables are small: thousands of rows)."""
    table = table_of(model)
    selected = [table.c[c] for c in columns] if columns else [c for c in table.c if c.name != "municipality_code"]
    rows = connection.execute(select(*selected).where(table.c.municipality_code == municipality_code)).all()
    return pd.DataFrame(rows, columns=[c.name for c in selected])


def frame_between(
    connection: Connection, model: type[Base], municipality_code: str, column: str, start: Any, end: Any
) -> pd.DataFrame:
    """Rows of a dated reference table (overtime, approvals, calendar) whose ``column`` is in [start, end]."""
    table = table_of(model)
    selected = [c for c in table.c if c.name != "municipality_code"]
    stmt = select(*selected).where(
        table.c.municipality_code == municipality_code, table.c[column] >= start, table.c[column] <= end
    )
    return pd.DataFrame(connection.execute(stmt).all(), columns=[c.name for c in selected])


def bump_generation(connection: Connection, municipality_code: str) -> None:
    """Mark the municipality's reference data as changed (in the writer's transaction)."""
    table = table_of(ReferenceGeneration)
    now = datetime.now(UTC)
    changed = connection.execute(
        update(table)
        .where(table.c.municipality_code == municipality_code)
        .values(generation=table.c.generation + 1, changed_at=now)
    ).rowcount
    if not changed:
        connection.execute(insert(table).values(municipality_code=municipality_code, generation=1, changed_at=now))


def generation(connection: Connection, municipality_code: str) -> int:
    table = table_of(ReferenceGeneration)
    value = connection.execute(
        select(table.c.generation).where(table.c.municipality_code == municipality_code)
    ).scalar()
    return int(value or 0)
