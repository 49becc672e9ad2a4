"""CLI commands of the collectors: ``ingest``, ``import``, ``profile``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.progress import Progress, TaskID
from rich.table import Table

from auditd.cli.common import byte_progress, console, migrated_engine, settings
from auditd.errors import ValidationFailed
from auditd.pipeline import InputFile
from auditd.trail.service import cli_actor
from collectors.pipeline import IngestSummary
from collectors.profile import REFERENCE_KINDS, builtin_profiles, load_profile_file, resolve_profile
from collectors.reference import ImportSummary
from collectors.service import collect
from collectors.testing import try_profile

profile_app = typer.Typer(
    help="List, show and try mapping profiles (how a vendor's log format is read).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("import")(import_feed)
    app.add_typer(profile_app, name="profile")


def ingest(
    files: list[Path] = typer.Argument(..., help="Log files to ingest.", exists=False),
    profile: str = typer.Option(..., "--profile", "-p", help="Built-in profile name or path of a YAML profile."),
    full: bool = typer.Option(False, "--full", help="Read files from the start even if ingested before."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Ingest operation-log files: parse, mask 個人番号, pseudonymise residents, store without duplicates.

    Bad records are quarantined with the reason, never dropped. Running it again on the same file
    continues where the last run stopped (or reads it again with --full, adding no duplicates).
    """
    current = settings()
    chosen = resolve_profile(profile)
    if chosen.kind != "events":
        raise ValidationFailed(
            f"profile {chosen.name} is for {chosen.kind} feeds", hint=f"use: auditd import {chosen.kind} FILE"
        )
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ValidationFailed(f"no such file: {', '.join(missing)}")
    engine = migrated_engine(current)
    from collectors.pipeline import Ingestor

    ingestor = Ingestor(engine, current)
    results: list[IngestSummary] = []
    total = sum(f.stat().st_size for f in files)
    done_bytes = 0
    with byte_progress("ingest", total) as bar:
        task = bar.task_ids[0]
        for path in files:
            result = ingestor.ingest_file(
                path, chosen, full=full, actor=cli_actor(), progress=_advance(bar, task, done_bytes)
            )
            results.append(result)
            done_bytes += path.stat().st_size
            bar.update(task, completed=done_bytes)
    if as_json:
        console.print_json(json.dumps([r.as_dict() for r in results], ensure_ascii=False))
        return
    _print_ingest_table(results)


def _advance(bar: Progress, task: TaskID, base: int) -> Callable[[int], None]:
    def advance(position: int) -> None:
        bar.update(task, completed=base + position)

    return advance


def _print_ingest_table(results: list[IngestSummary]) -> None:
    table = Table("file", "read", "accepted", "duplicate", "quarantined", "masked 個人番号", "events/s", title="ingest")
    for r in results:
        note = " (already ingested)" if r.skipped else ""
        table.add_row(
            Path(r.input).name + note,
            f"{r.read:,}",
            f"{r.accepted:,}",
            f"{r.duplicates:,}",
            f"{r.quarantined:,}",
            f"{r.masked:,}",
            f"{r.rate:,.0f}",
        )
    if len(results) > 1:
        seconds = sum(r.seconds for r in results) or 1e-9
        table.add_row(
            "total",
            *(
                f"{sum(getattr(r, a) for r in results):,}"
                for a in ("read", "accepted", "duplicates", "quarantined", "masked")
            ),
            f"{sum(r.read for r in results) / seconds:,.0f}",
            style="bold",
        )
    console.print(table)
    reasons: dict[str, int] = {}
    for r in results:
        for code, n in r.reasons.items():
            reasons[code] = reasons.get(code, 0) + n
    if reasons:
        console.print(
            "quarantined: "
            + ", ".join(f"{code} {n:,}" for code, n in sorted(reasons.items(), key=lambda x: -x[1]))
            + "  (see the dashboard's 取込 page or the quarantine table)"
        )


def import_feed(
    kind: str = typer.Argument(..., help=f"What the file holds: {', '.join(REFERENCE_KINDS)}."),
    file: Path = typer.Argument(..., help="CSV (UTF-8 or CP932) or JSON-lines file."),
    profile: str = typer.Option(None, "--profile", "-p", help="Profile name or YAML path; default standard-KIND."),
) -> None:
    """Import a reference feed: personnel, rights ledger, terminals, calendar, cases, watchlist …"""
    if kind not in REFERENCE_KINDS:
        raise ValidationFailed(f"unknown kind {kind!r}", hint=f"one of: {', '.join(REFERENCE_KINDS)}")
    current = settings()
    chosen = resolve_profile(profile or f"standard-{kind}")
    if chosen.kind != kind:
        raise ValidationFailed(f"profile {chosen.name} is for {chosen.kind}, not {kind}")
    engine = migrated_engine(current)
    [result] = collect(
        engine,
        current,
        [InputFile(kind=kind, path=file, profile=profile or f"standard-{kind}")],
        actor=cli_actor(),
    )
    assert isinstance(result, ImportSummary)
    console.print(
        f"{kind}: read {result.read:,}, stored {result.stored:,}, quarantined {result.quarantined:,}"
        + (f" ({', '.join(f'{k} {v}' for k, v in result.reasons.items())})" if result.reasons else "")
    )


@profile_app.command("list")
def profile_list() -> None:
    """List the built-in profiles."""
    table = Table("name", "kind", "format", "encoding", "description")
    for name, path in builtin_profiles().items():
        p = load_profile_file(path)
        table.add_row(name, p.kind, p.format, p.encoding, p.description)
    console.print(table)


@profile_app.command("show")
def profile_show(profile: str = typer.Argument(..., help="Profile name or YAML path.")) -> None:
    """Print a profile's YAML (a starting point for a new vendor's profile)."""
    chosen = resolve_profile(profile)
    assert chosen.path is not None
    console.print(chosen.path.read_text(encoding="utf-8"), highlight=False, markup=False)


@profile_app.command("test")
def profile_test(
    profile: str = typer.Argument(..., help="Profile name or YAML path."),
    file: Path = typer.Argument(..., help="A sample of the vendor's file."),
    rows: int = typer.Option(5, help="How many parsed records to show."),
) -> None:
    """Read FILE with PROFILE without storing anything: show the first records as auditd understands
    them and every problem found in the whole file."""
    if not file.is_file():
        raise ValidationFailed(f"{file}: no such file")
    report = try_profile(resolve_profile(profile), file, rows=rows)
    table = Table(*report.columns, title=f"first {len(report.sample)} records")
    for record in report.sample:
        table.add_row(*record)
    console.print(table)
    console.print(
        f"records: {report.records:,}  mappable: {report.good:,}  problems: {report.bad:,}  "
        f"個人番号 masked in: {report.masked:,}"
    )
    for code, (count, examples) in report.problems.items():
        console.print(f"[bold yellow]{code}[/] × {count:,}")
        for line, reason in examples:
            console.print(f"    line {line}: {reason}", highlight=False, markup=False)
    if report.bad and not report.good:
        raise typer.Exit(1)
