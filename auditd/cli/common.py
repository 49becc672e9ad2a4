"""What CLI commands share: settings, the engine of a migrated store, the console, progress bars."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, tzinfo

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from sqlalchemy import Engine

from auditd.errors import ValidationFailed
from auditd.settings import Settings, get_settings
from auditd.store.db import make_engine
from auditd.store.migrate import require_current

console = Console()


def settings() -> Settings:
    current = get_settings()
    current.check_secrets()
    return current


def migrated_engine(current: Settings | None = None) -> Engine:
    """An engine on a store at the latest migration, or a clear error saying to run `auditd db upgrade`."""
    engine = make_engine((current or settings()).db_url)
    require_current(engine)
    return engine


@contextmanager
def byte_progress(description: str, total: int) -> Iterator[Progress]:
    """A progress bar over bytes; disappears when output is not a terminal (CI, pipes)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        progress.add_task(description, total=total)
        yield progress


def parse_since(text: str, now: datetime, tz: tzinfo, option: str = "--since") -> datetime:
    """``7d``, ``12h``, ``30m`` ago, a date (its start in local time) or an ISO instant."""
    value = text.strip()
    match = re.fullmatch(r"(\d{1,5})([mhd])", value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), tzinfo=tz)
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(
            f"{option} {text!r} is neither a duration nor a date", hint="e.g. 7d, 12h, 2026-02-01 or 2026-02-01T09:00"
        ) from exc
    return instant if instant.tzinfo else instant.replace(tzinfo=tz)
