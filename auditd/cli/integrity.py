"""``auditd verify``, ``auditd backup``, ``auditd restore``: tamper evidence and copies of the store.

``verify`` is the first thing an auditor runs: it recomputes the chain over every stored event and
says which batch was altered, removed, reordered or cut off. Exit status 0 when the chain is intact,
3 when tampering is found (1 or 2 for errors, as every command), so a script or a scheduler can act
on it without reading the text.
"""

from __future__ import annotations

import json
from datetime import datetime, time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from auditd.cli.common import console, migrated_engine, settings
from auditd.errors import ValidationFailed
from auditd.integrity.service import VerifyReport, run_check
from auditd.jp.codes import validate_municipality_code
from auditd.store import backup as backup_service
from auditd.store.partitions import JST
from auditd.trail.service import cli_actor

#: Exit status when tampering is found (0: intact; 1 and 2 are errors).
EXIT_TAMPERED = 3


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
    app.command("backup")(backup)
    app.command("restore")(restore)


def verify(
    since: datetime = typer.Option(
        None,
        "--since",
        formats=["%Y-%m-%d"],
        help="Only batches stored on or after this day (Japan time), linked to the one before. Default: all.",
    ),
    municipality: str = typer.Option(
        None, "--municipality", help="全国地方公共団体コード (default AUDITD_MUNICIPALITY_CODE)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Check that no stored event was altered, added, deleted, reordered or cut off since it was ingested.

    Recomputes the keyed chain over every ingest batch from what the database holds and names each
    batch that does not match (its file, its time range, and the events when it can). The result is
    recorded in the store and in the trail. Exit status: 0 intact, 3 tampering found.
    """
    current = settings()
    code = _municipality(municipality) if municipality else current.municipality_code
    start = None if since is None else datetime.combine(since.date(), time(0), JST)
    engine = migrated_engine(current)
    with engine.connect() as connection, _progress() as bar:
        task = bar.add_task("verify", total=None)
        report = run_check(
            connection,
            current,
            code,
            actor=cli_actor(),
            since=start,
            progress=lambda n: bar.update(task, advance=n),
        )
    if as_json:
        console.print_json(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        _print_report(report)
    if not report.intact:
        raise typer.Exit(EXIT_TAMPERED)


def _municipality(value: str) -> str:
    try:
        return validate_municipality_code(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), hint="give the 6-digit code with its check digit") from exc


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _print_report(report: VerifyReport) -> None:
    scope = "" if report.since is None else f" stored since {report.since.date().isoformat()}"
    console.print(
        f"checked {report.batches:,} batches{scope} ({report.events:,} events) of {report.municipality_code} "
        f"in {report.seconds:.1f} s ({report.events_per_second:,.0f} events/s); check #{report.check_id}"
    )
    for finding in report.findings:
        style = "bold red" if finding.tampering else "yellow"
        console.print(f"[{style}]{finding.kind.upper()}[/] {finding.message}", highlight=False)
    if report.intact:
        console.print("[bold green]intact[/]: every stored event is as it was ingested")
    else:
        count = len([f for f in report.findings if f.tampering])
        console.print(f"[bold red]TAMPERED[/]: {count} finding(s); the store must not be trusted until explained")


def backup(
    out: Path = typer.Option(None, "--out", "-o", help="Where to write the copy (default <data_dir>/backups/…)."),
) -> None:
    """Copy the store while it is in use: SQLite's online backup, or pg_dump -Fc on PostgreSQL.

    The keys in <data_dir>/keys are NOT in the copy: back them up separately (see docs/integrity.md).
    """
    current = settings()
    engine = migrated_engine(current)
    result = backup_service.backup(engine, current, out, actor=cli_actor())
    console.print(f"backup written: [bold]{result.path}[/] ({result.bytes / 1e6:,.1f} MB in {result.seconds:.1f} s)")
    console.print(f"keys are not in it: back up {current.data_dir / 'keys'} separately, and keep it apart")


def restore(
    path: Path = typer.Argument(..., help="A file written by `auditd backup`."),
    force: bool = typer.Option(False, "--force", help="Replace a store that already holds data."),
) -> None:
    """Restore the store from a backup (refuses to overwrite a store with data unless --force).

    Run `auditd verify` afterwards: the chain proves the copy holds the events as ingested.
    """
    current = settings()
    result = backup_service.restore(current, path, force=force, actor=cli_actor())
    console.print(f"restored [bold]{result.path}[/] into {result.target} ({result.seconds:.1f} s)")
    console.print("next: auditd verify")
