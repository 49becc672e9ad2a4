"""``auditd scheduler``: the jobs that `auditd serve` runs on a schedule, and running one now."""

from __future__ import annotations

import typer
from rich.table import Table

from auditd.cli.common import console, migrated_engine, settings
from auditd.scheduler import repository
from auditd.scheduler.service import installed_jobs, run_now
from auditd.store.partitions import JST

app = typer.Typer(help="Scheduled jobs: list them and their health, or run one now.", no_args_is_help=True)

#: Exit status of run-now: 0 ok, 1 failed (for some municipality), 3 critical (found something).
EXIT_FAILED, EXIT_CRITICAL = 1, 3


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="scheduler")


@app.command("list")
def list_jobs() -> None:
    """Every declared job: its schedule, next run (as stored by the server) and last outcome."""
    current = settings()
    engine = migrated_engine(current)
    with engine.connect() as connection:
        next_runs = repository.stored_next_runs(connection)
        last = repository.last_runs(connection)
    table = Table("job", "title", "schedule", "next run", "last run", "outcome", "summary")
    for job_id, spec in sorted(installed_jobs().items()):
        upcoming = next_runs.get(job_id)
        previous = last.get(job_id)
        table.add_row(
            job_id,
            spec.title,
            spec.describe(),
            "-" if upcoming is None else upcoming.astimezone(JST).strftime("%Y-%m-%d %H:%M JST"),
            "-" if previous is None else previous["started_at"].astimezone(JST).strftime("%Y-%m-%d %H:%M JST"),
            "-" if previous is None else str(previous["outcome"]),
            "" if previous is None else str(previous["summary"] or "")[:80],
        )
    console.print(table)
    if not next_runs:
        console.print("no job is stored yet: `auditd serve` schedules them when it starts")


@app.command("run-now")
def run_now_command(job_id: str = typer.Argument(..., help="Job id, as `auditd scheduler list` shows it.")) -> None:
    """Run a job now, in this process, for every municipality; recorded like a scheduled run."""
    current = settings()
    engine = migrated_engine(current)
    result = run_now(job_id, current, engine)
    for run in result.results:
        style = {"ok": "green", "critical": "bold red", "failed": "red"}.get(run.outcome, "")
        console.print(f"{run.municipality_code} [{style}]{run.outcome}[/]: {run.summary}", highlight=False)
    if result.outcome == "failed":
        raise typer.Exit(EXIT_FAILED)
    if result.outcome == "critical":
        raise typer.Exit(EXIT_CRITICAL)
