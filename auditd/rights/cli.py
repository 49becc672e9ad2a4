"""``auditd rights``: what an operator does with the rights lifecycle from a shell."""

from __future__ import annotations

from datetime import UTC, date, datetime

import typer
from rich.table import Table

from auditd.cli.common import console, migrated_engine, settings
from auditd.errors import ValidationFailed
from auditd.rights import service
from auditd.trail.service import cli_actor

rights_app = typer.Typer(help="Access rights: apply the personnel register to the grants.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Entry point (``auditd.cli``): adds ``auditd rights``."""
    app.add_typer(rights_app, name="rights")


@rights_app.command("apply-personnel")
def apply_personnel(
    on: str = typer.Option(None, "--on", help="Apply the register as of this day (YYYY-MM-DD); default today."),
) -> None:
    """Suspend the grants of people who moved to a section their role does not list, or retired, from
    the day it happened (or only flag them, with AUDITD_RIGHTS_PERSONNEL_ACTION=flag)."""
    current = settings()
    now = datetime.now(UTC)
    try:
        day = date.fromisoformat(on) if on else service.today_in(current, now)
    except ValueError as exc:
        raise ValidationFailed(f"--on {on!r} is not a date", hint="e.g. --on 2026-04-01") from exc
    engine = migrated_engine(current)
    with engine.begin() as connection:
        result = service.apply_personnel(
            connection,
            current,
            current.municipality_code,
            service.role_catalog(current),
            on=day,
            actor=cli_actor(),
            now=now,
            client="cli",
        )
    table = Table("grant", "account", "role", "cause", "effective", "section", "action")
    for item in result.lapsed:
        table.add_row(
            str(item.grant_id),
            item.user_id,
            item.role,
            item.cause,
            item.effective_on.isoformat(),
            item.section_code or "",
            item.action,
        )
    if result.lapsed:
        console.print(table)
    console.print(
        f"{result.on.isoformat()}: {result.checked} active grants checked, {len(result.lapsed)} "
        f"{'suspended' if result.mode == 'suspend' else 'flagged'}",
        highlight=False,
    )
