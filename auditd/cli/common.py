"""What CLI commands share: settings, the engine of a migrated store, the console, progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
