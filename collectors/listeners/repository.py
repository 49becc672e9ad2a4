"""SQL of the listeners: the checkpoint a spooling listener continues from."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from auditd.events.models import IngestRun
from auditd.store.base import table_of


def run_checkpoint(connection: Connection, municipality_code: str, run_id: int) -> dict[str, Any] | None:
    """Status, source, fingerprint, position and identity window of run ``run_id`` of the municipality."""
    table = table_of(IngestRun)
    stmt = select(
        table.c.id,
        table.c.status,
        table.c.source,
        table.c.fingerprint,
        table.c.position,
        table.c.identity_window,
    ).where(table.c.municipality_code == municipality_code, table.c.id == run_id)
    row = connection.execute(stmt).first()
    return None if row is None else dict(row._mapping)
