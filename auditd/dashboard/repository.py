"""Reads of the dashboard's own figures that no domain repository has yet (all SQL of the package)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, func, select, text

from auditd.events.models import SESSION_ACTIONS_SQL, Event
from auditd.store import bulk
from auditd.store.base import table_of

SESSION_COLUMNS = ["user_id", "action", "result", "factors", "n"]


def session_counts(connection: Connection, municipality_code: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Logins and logouts with ``start <= ts < end`` counted per account, action, result and
    ``auth_factors`` (``''``: none): the overview's two-factor coverage. Counted in SQL over the partial
    sessions index, which holds every column read here, so neither the operations nor the rows of the
    events table are read (a month of a large city's logins in a few thousand rows)."""
    events = table_of(Event)
    factors = func.coalesce(events.c.auth_factors, "")
    stmt = (
        select(events.c.user_id, events.c.action, events.c.result, factors, func.count())
        .where(
            events.c.municipality_code == municipality_code,
            events.c.ts >= start,
            events.c.ts < end,
            text(SESSION_ACTIONS_SQL),  # as the partial index says it, so the index is used
        )
        .group_by(events.c.user_id, events.c.action, events.c.result, factors)
    )
    frame = bulk.read_frame(connection, stmt, SESSION_COLUMNS)
    frame["n"] = pd.to_numeric(frame["n"]).astype("int64")
    return frame
