"""``auditd db``: create and migrate the store."""

from __future__ import annotations

from datetime import datetime

import typer

from auditd.cli.common import console, migrated_engine, settings
from auditd.errors import ValidationFailed
from auditd.events.rollup import rebuild_rollups
from auditd.jp.codes import validate_municipality_code
from auditd.store import migrate
from auditd.store.db import make_engine

app = typer.Typer(help="Create, migrate and inspect the store (SQLite or PostgreSQL).", no_args_is_help=True)


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Migration to reach; the latest by default."),
) -> None:
    """Create the store or bring it to the latest schema. Safe to run again."""
    current = settings()
    engine = make_engine(current.db_url)
    before, after = migrate.upgrade(engine, revision)
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        console.print(f"store already at migration [bold]{after}[/] ({where})")
    else:
        console.print(f"store migrated from {before or '(empty)'} to [bold]{after}[/] ({where})")


@app.command()
def current() -> None:
    """Show the store's migration and the one this version of auditd needs."""
    engine = make_engine(settings().db_url)
    console.print(f"store:  {migrate.current_revision(engine) or '(not created)'}")
    console.print(f"needed: {migrate.head_revision()}")


@app.command()
def rollup(
    since: datetime = typer.Option(
        None, "--since", formats=["%Y-%m-%d"], help="First day to rebuild (Japan time, YYYY-MM-DD). Default: the first."
    ),
    until: datetime = typer.Option(
        None, "--until", formats=["%Y-%m-%d"], help="Last day to rebuild, included. Default: the last."
    ),
    municipality: str = typer.Option(
        None, "--municipality", help="全国地方公共団体コード (default AUDITD_MUNICIPALITY_CODE)."
    ),
) -> None:
    """Rebuild the event rollups (events per hour, per account and day) from the stored events.

    Ingest keeps the rollups current by itself; run this after restoring a store, or for days you
    doubt. The rollup rows of the days are deleted and computed again from the events, in one
    transaction; the events themselves are not touched.
    """
    current = settings()
    try:
        code = validate_municipality_code(municipality) if municipality else current.municipality_code
    except ValueError as exc:
        raise ValidationFailed(str(exc), hint="give the 6-digit code with its check digit") from exc
    first = since.date() if since is not None else None
    last = until.date() if until is not None else None
    if first is not None and last is not None and first > last:
        raise ValidationFailed(f"--since {first} is after --until {last}", hint="give the earlier day first")
    engine = migrated_engine(current)
    with engine.begin() as connection:
        rows = rebuild_rollups(connection, code, first, last)
    days = f"{first or 'the first day'} to {last or 'the last day'}"
    console.print(f"rebuilt {rows:,} rollup rows for {code}, {days}")


@app.command(hidden=True)
def revision(message: str = typer.Option(..., "--message", "-m", help="What the migration changes.")) -> None:
    """(developers) Write a migration by comparing the models with a migrated store."""
    migrate.revision(make_engine(settings().db_url), message)
