"""``auditd source``: register log sources and manage the tokens they push with."""

from __future__ import annotations

from datetime import timedelta, timezone

import typer
from rich.table import Table

from auditd.cli.common import console, migrated_engine, settings
from auditd.trail.service import cli_actor
from collectors.push import service
from collectors.push.service import IssuedToken

JST = timezone(timedelta(hours=9), "JST")

source_app = typer.Typer(
    help="Log sources: register them, and issue the tokens they push records with over HTTP.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(source_app, name="source")


def _show_token(issued: IssuedToken, base_url: str) -> None:
    # The token goes to standard output on a line of its own, unstyled, so a script can capture it.
    console.print(
        f"push token of [bold]{issued.source}[/] (shown only now: put it in the sender's configuration; "
        "`auditd source token` replaces it):"
    )
    typer.echo(issued.token)
    console.print(
        f"send records with: POST {base_url.rstrip('/')}/api/v1/ingest/{issued.source}  "
        "(header  Authorization: Bearer <token>)",
        highlight=False,
    )


@source_app.command("add")
def add(
    name: str = typer.Argument(..., help="Source name: letters, digits, '.', '_', '-' (it appears in the push URL)."),
    profile: str = typer.Option(
        ..., "--profile", "-p", help="Profile that reads its records: a built-in name or the path of a YAML file."
    ),
    system: str = typer.Option(None, "--system", help="The business system it logs (税務, 福祉 …), for people."),
    max_silence_hours: int = typer.Option(
        None, "--max-silence-hours", min=1, help="Hours without events after which the source counts as silent."
    ),
) -> None:
    """Register a log source and print its push token (once)."""
    current = settings()
    engine = migrated_engine(current)
    with engine.begin() as connection:
        issued = service.add_source(
            connection,
            current.municipality_code,
            name,
            profile,
            system=system,
            max_silence_hours=max_silence_hours,
            actor=cli_actor(),
        )
    console.print(f"added source [bold]{name}[/] (profile {profile})", highlight=False)
    _show_token(issued, current.dashboard_url)


@source_app.command("token")
def token(name: str = typer.Argument(..., help="The source.")) -> None:
    """Issue a new push token for a source and print it; the previous token stops working at once."""
    current = settings()
    engine = migrated_engine(current)
    with engine.begin() as connection:
        issued = service.rotate_token(connection, current.municipality_code, name, actor=cli_actor())
    _show_token(issued, current.dashboard_url)


@source_app.command("list")
def list_sources() -> None:
    """List the sources: profile, system, last event (Japan time), silent or not, push token set or not."""
    current = settings()
    engine = migrated_engine(current)
    with engine.connect() as connection:
        health = service.source_health(connection, current.municipality_code)
    table = Table("name", "profile", "system", "last event", "silent", "push token")
    for source in health.sources:
        last = source.last_event_ts.astimezone(JST).strftime("%Y-%m-%d %H:%M") if source.last_event_ts else "—"
        table.add_row(
            source.name,
            source.profile,
            source.system or "",
            last,
            f"yes (> {source.max_silence_hours} h)" if source.silent else "no",
            "set" if source.push_token else "—",
        )
    console.print(table)
