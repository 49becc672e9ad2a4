"""``auditd db``: create and migrate the store; partitions, archives and retention of events."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from auditd.archive import repository as archive_repo
from auditd.archive import service as archive_service
from auditd.cli.common import console, migrated_engine, settings
from auditd.errors import ValidationFailed
from auditd.events.rollup import rebuild_rollups
from auditd.jp.codes import validate_municipality_code
from auditd.store import migrate
from auditd.store.db import make_engine
from auditd.store.partitions import (
    detached_partitions,
    ensure_partitions_ahead,
    list_event_partitions,
    missing_partition_indexes,
)
from auditd.trail.service import cli_actor

#: Exit status when an archive file or record does not match (as `auditd verify` on tampering).
EXIT_MISMATCH = 3

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


@app.command()
def partitions(
    ahead: int = typer.Option(
        None, "--ahead", min=0, max=24, help="Months to create after this one (default AUDITD_PARTITIONS_AHEAD_MONTHS)."
    ),
) -> None:
    """PostgreSQL: create this month's partition of events and the next ones, and check their indexes.

    The nightly job `store.partitions` does the same. Lists the partitions attached and detached
    (archived); exit status 3 when a partition lacks an index of `events`.
    """
    current = settings()
    engine = migrated_engine(current)
    if engine.dialect.name != "postgresql":
        console.print("SQLite: one file holds every month, there are no partitions")
        return
    with engine.begin() as connection:
        created = ensure_partitions_ahead(connection, current.partitions_ahead_months if ahead is None else ahead)
        attached, detached = list_event_partitions(connection), detached_partitions(connection)
        missing = missing_partition_indexes(connection)
    console.print(f"created: {', '.join(created) or 'none (all exist)'}")
    console.print(f"attached: {', '.join(attached) or 'none'}")
    console.print(f"detached (archived): {', '.join(detached) or 'none'}")
    if missing:
        for part, index in missing:
            console.print(f"[red]missing index[/] {index} on {part}")
        raise typer.Exit(EXIT_MISMATCH)
    console.print("every partition has every index of events")


@app.command()
def archive(
    before: str = typer.Option(..., "--before", help="Archive every whole month before this one (YYYY-MM)."),
    to: Path = typer.Option(
        None, "--to", help="Folder for the Parquet files (default AUDITD_ARCHIVE_DIR or <data_dir>/archive)."
    ),
    drop: bool = typer.Option(False, "--drop", help="PostgreSQL: drop the detached partition once verified."),
) -> None:
    """Export old months of events to Parquet, verified, and record them; detach them on PostgreSQL.

    One file per municipality and month (`<dir>/<code>/events-YYYY-MM.parquet`). Each file is read
    back: its rows must be exactly the stored events (count and keyed fingerprints), and its SHA-256
    is recorded with the batches it holds. On PostgreSQL the month's partition then leaves `events`
    (kept as a table, dropped with --drop); on SQLite the rows stay until `auditd db retention`.
    Rollups (reports, dashboard) keep the month's figures. `auditd verify` reports archived events as
    archived, not deleted. A month already archived is skipped.
    """
    current = settings()
    cutoff = archive_service.parse_month(before)
    out_dir = to or archive_service.default_archive_dir(current)
    engine = migrated_engine(current)
    actor = cli_actor()
    with engine.connect() as connection:
        months = archive_service.months_before(connection, cutoff)
    if not months:
        console.print(f"no stored month before {cutoff:%Y-%m}")
        return
    for month in months:
        with engine.begin() as connection:
            result = archive_service.archive_month(connection, current, month, out_dir, actor=actor, drop=drop)
        for item in result.files:
            if item.skipped:
                if item.skipped != "no events":
                    console.print(f"{month:%Y-%m} {item.municipality_code}: {item.skipped} ({item.path})")
                continue
            console.print(
                f"{month:%Y-%m} {item.municipality_code}: {item.rows:,} events → {item.path} "
                f"(sha256 {item.sha256}, archive #{item.archive_id})",
                soft_wrap=True,
            )
        if result.detached:
            console.print(
                f"{month:%Y-%m}: partition {result.detached} detached" + (" and dropped" if result.dropped else "")
            )
        elif result.note and result.note != "no partition":
            console.print(f"{month:%Y-%m}: {result.note}")


@app.command()
def archives(
    municipality: str = typer.Option(None, "--municipality", help="Only this municipality (default: all)."),
) -> None:
    """List the archived months and check each file: present, its recorded SHA-256 and row count.

    Exit status 3 when a file is missing or altered, or a record does not match its MAC.
    """
    current = settings()
    engine = migrated_engine(current)
    with engine.connect() as connection:
        checks = archive_service.check_archives(connection, current, municipality)
        acted = archive_repo.actions(connection, [int(c.archive["id"]) for c in checks])
    state: dict[int, str] = {}
    for action in acted:
        state[int(action["archive_id"])] = f"{action['action']} ({action['reason']}, {action['at']:%Y-%m-%d})"
    bad = 0
    for check in checks:
        a = check.archive
        status = "ok" if check.ok else f"[red]MISMATCH[/] {check.problem}"
        bad += not check.ok
        console.print(
            f"#{a['id']} {a['municipality_code']} {a['month']:%Y-%m}: {int(a['rows']):,} events, {a['path']}, "
            f"sha256 {a['sha256']}, {state.get(int(a['id']), 'in the store')}: {status}",
            highlight=False,
            soft_wrap=True,
        )
    if not checks:
        console.print("no archives")
    if bad:
        raise typer.Exit(EXIT_MISMATCH)


@app.command()
def retention(
    years: int = typer.Option(
        None, "--years", min=1, max=100, help="Keep this many years (default AUDITD_RETENTION_YEARS, 7)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be purged, purge nothing."),
) -> None:
    """Purge events older than the retention: only months with a verified archive.

    A month is purged only when every municipality's events in it are in an archive whose file is
    still there with its recorded SHA-256 and row count; otherwise nothing is purged and the months
    are named. PostgreSQL drops the detached partitions; SQLite deletes the rows (see
    docs/postgresql.md for how the append-only trigger is handled). Each purge is recorded (what,
    rows, who, when) and in the trail; rollups keep the months' figures.
    """
    current = settings()
    keep = current.retention_years if years is None else years
    engine = migrated_engine(current)
    with engine.begin() as connection:
        plan = archive_service.plan_retention(connection, current, keep)
        for item in plan.items:
            console.print(
                f"{item.month:%Y-%m} {item.municipality_code}: {item.rows:,} events, archive #{item.archive['id']} "
                f"({item.archive['path']})",
                soft_wrap=True,
            )
        if plan.refused:
            for reason in plan.refused:
                console.print(f"[red]refused[/] {reason}", highlight=False, soft_wrap=True)
            raise ValidationFailed(
                f"retention ({keep} years, months before {plan.cutoff:%Y-%m}) refused: {len(plan.refused)} month(s) "
                "without a verified archive; nothing was purged",
                hint=f"archive them first: auditd db archive --before {plan.cutoff:%Y-%m}",
            )
        if not plan.months:
            console.print(f"nothing older than {keep} years (before {plan.cutoff:%Y-%m})")
            return
        if dry_run:
            console.print(f"dry run: {plan.rows:,} events of {len(plan.months)} month(s) would be purged")
            return
        removed = archive_service.purge(connection, current, plan, actor=cli_actor())
    console.print(f"purged {removed:,} events of {len(plan.months)} month(s) before {plan.cutoff:%Y-%m}")


@app.command("restore-archive")
def restore_archive(
    file: Path = typer.Argument(..., help="A Parquet file written by `auditd db archive`."),
) -> None:
    """Load an archived month back into the store for an investigation.

    The file must be one this store recorded, unchanged (its SHA-256). Events already stored are
    skipped; rollups are not changed (they never lost the month). Recorded and trailed; `auditd
    db retention` can purge the month again later.
    """
    current = settings()
    engine = migrated_engine(current)
    with engine.begin() as connection:
        record, loaded = archive_service.restore_file(connection, current, file, actor=cli_actor())
    where = f"{record['municipality_code']} {record['month']:%Y-%m}"
    console.print(f"archive #{record['id']} ({where}): {loaded:,} events loaded back")


@app.command(hidden=True)
def revision(message: str = typer.Option(..., "--message", "-m", help="What the migration changes.")) -> None:
    """(developers) Write a migration by comparing the models with a migrated store."""
    migrate.revision(make_engine(settings().db_url), message)
