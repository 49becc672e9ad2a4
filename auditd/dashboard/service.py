"""What the dashboard pages show, computed from the store through the domains' repositories."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select

from auditd.events import repository as events_repo
from auditd.reference.models import Municipality

SILENT_AFTER = timedelta(hours=26)  # a daily file that is a few hours late is not yet silent


@dataclass
class Overview:
    municipality_name: str
    totals: dict[str, int]
    quarantined: int
    daily: list[tuple[str, int]]
    hourly: list[tuple[int, int]]
    systems: list[tuple[str, int]]
    sources: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    quarantine_reasons: list[tuple[str, str, int]] = field(default_factory=list)
    as_of: datetime | None = None


def municipality_name(connection: Connection, code: str) -> str:
    name = connection.execute(select(Municipality.name).where(Municipality.municipality_code == code)).scalar()
    return str(name) if name else code


def _every_day(counts: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Fill the days without events with zero, so a weekend or an outage shows as a gap in the chart."""
    if not counts:
        return counts
    known = dict(counts)
    days = pd.date_range(counts[0][0], counts[-1][0], freq="D").strftime("%Y-%m-%d")
    return [(day, known.get(day, 0)) for day in days]


def _every_hour(counts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    known = dict(counts)
    return [(hour, known.get(hour, 0)) for hour in range(24)] if counts else counts


def overview(connection: Connection, municipality_code: str, *, window_days: int = 28) -> Overview:
    """Figures for the overview page, over the last ``window_days`` of data (not of the wall clock:
    a demo or an imported archive shows its own recent weeks)."""
    latest = events_repo.latest_event_ts(connection, municipality_code)
    as_of = latest or datetime.now(UTC)
    since = as_of - timedelta(days=window_days)
    week = as_of - timedelta(days=7)
    totals = events_repo.event_totals(connection, municipality_code, week)
    sources = events_repo.list_sources(connection, municipality_code)
    for source in sources:
        last = source.get("last_event_ts")
        source["silent"] = last is None or as_of - last > SILENT_AFTER
    return Overview(
        municipality_name=municipality_name(connection, municipality_code),
        totals=totals,
        quarantined=events_repo.quarantine_count(connection, municipality_code),
        daily=_every_day(events_repo.daily_counts(connection, municipality_code, since)),
        hourly=_every_hour(events_repo.hourly_counts(connection, municipality_code, since)),
        systems=events_repo.counts_by_system(connection, municipality_code, since),
        sources=sources,
        runs=events_repo.recent_runs(connection, municipality_code),
        quarantine_reasons=events_repo.quarantine_by_reason(connection, municipality_code),
        as_of=latest,
    )
