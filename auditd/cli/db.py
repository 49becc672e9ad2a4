"""``auditd db``: create and migrate the store."""

from __future__ import annotations

import typer

from auditd.cli.common import console, settings
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


@app.command(hidden=True)
def revision(message: str = typer.Option(..., "--message", "-m", help="What the migration changes.")) -> None:
    """(developers) Write a migration by comparing the models with a migrated store."""
    migrate.revision(make_engine(settings().db_url), message)
