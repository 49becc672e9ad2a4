"""CLI: ``auditd detect`` (run the detectors over days), ``auditd detectors`` (the catalogue) and
``auditd alerts list|export``."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import pandas as pd
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from auditd.alerts import repository as alerts_repo
from auditd.alerts.models import SEVERITY_JA
from auditd.cli.common import console, migrated_engine, parse_since, settings
from auditd.errors import ValidationFailed
from auditd.trail.service import cli_actor, record
from detectors.service import detect as run_detect
from detectors.service import detect_pending, detector_classes, installed, triage_line

alerts_app = typer.Typer(help="Alerts found by the detectors: list them or export them.", no_args_is_help=True)

#: The fields of one exported alert, in order (CSV header and JSON keys).
EXPORT_FIELDS = (
    "alert_id", "rule", "severity", "title", "user_id", "terminal_id", "subjects", "start", "end",
    "event_count", "event_ids", "explanation", "explanation_en", "evidence", "status", "detected_at",
)  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)
    app.command("detectors")(catalogue)
    app.add_typer(alerts_app, name="alerts")


def detect(
    since: str = typer.Option(None, "--since", help="From this day or instant (2026-01-05, 2026-01-05T09:00, 7d)."),
    until: str = typer.Option(None, "--until", help="Up to this day or instant, exclusive (default: now)."),
    only: str = typer.Option(None, "--only", help="Only these detector codes, comma-separated (D06,D07)."),
) -> None:
    """Run the detectors over whole Japan days and store what they find as alerts. Without --since: from
    where the last run ended to the latest decided event. Running it again over the same days stores no
    alert twice."""
    current = settings()
    engine = migrated_engine(current)
    codes = [c.strip().upper() for c in only.split(",") if c.strip()] if only else None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("検知 / detecting (days)", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        if since is None:
            if codes:
                raise ValidationFailed("--only needs --since", hint="e.g. auditd detect --since 2026-01-05 --only D06")
            summary = detect_pending(engine, current, actor=cli_actor(), progress=progress)
        else:
            now = datetime.now(UTC)
            start = parse_since(since, now, current.tz)
            end = parse_since(until, now, current.tz, option="--until") if until else now
            if end <= start:
                raise ValidationFailed("--until must be after --since")
            summary = run_detect(engine, current, start, end, only=codes, actor=cli_actor(), progress=progress)
    classes = detector_classes()
    console.print(
        f"{summary.days} day(s), {summary.events:,} events, {summary.findings:,} findings, "
        f"{summary.new_alerts:,} new alerts in {summary.seconds:.1f} s"
    )
    table = Table("code", "detector", "findings", "new", "seconds", title="by detector")
    for code, cls in classes.items():
        if summary.by_rule[code] or summary.errors.get(code):
            table.add_row(
                code,
                cls.title_ja,
                f"{summary.by_rule[code]:,}",
                f"{summary.new_by_rule[code]:,}",
                f"{summary.seconds_by_rule.get(code, 0.0):.2f}",
            )
    if table.rows:
        console.print(table)
    console.print(triage_line(summary))
    for code, error in summary.errors.items():
        console.print(f"[red]{code} failed[/]: {error}", highlight=False)
    if summary.errors:
        raise typer.Exit(1)


def catalogue(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The installed detectors: code, severity, titles, the control each enforces and its thresholds."""
    current = settings()
    configured = {d.code: d for d in installed(current)}  # refuses unknown codes and bad thresholds
    rows: list[dict[str, Any]] = []
    for code, cls in detector_classes().items():
        params = (configured.get(code) or cls(current.detectors.get(code))).params.model_dump()
        rows.append(
            {
                "code": code,
                "severity": cls.severity,
                "scope": cls.scope,
                "title_ja": cls.title_ja,
                "title_en": cls.title_en,
                "control": cls.control,
                "params": params,
                "enabled": code not in current.detectors_disabled,
            }
        )
    if as_json:
        console.print_json(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("code", "重要度", "detector", "control", "thresholds", title="検知ルール / detectors")
    for row in rows:
        thresholds = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        off = "" if row["enabled"] else " [dim](disabled)[/]"
        table.add_row(
            row["code"],
            SEVERITY_JA.get(row["severity"], row["severity"]),
            f"{row['title_ja']}{off}\n[dim]{row['title_en']}[/]",
            row["control"],
            thresholds,
        )
    console.print(table)


def _iso(value: Any, tz: Any) -> str:
    return pd.Timestamp(value).tz_convert(tz).isoformat()


def export_records(frame: pd.DataFrame, tz: Any) -> list[dict[str, Any]]:
    """Alerts as plain records (times ISO 8601 with the offset of ``tz``; lists as lists)."""
    records = []
    for row in frame.to_dict("records"):
        records.append(
            {
                "alert_id": int(row["id"]),
                "rule": row["rule"],
                "severity": row["severity"],
                "title": row["title"],
                "user_id": row["user_id"] if isinstance(row["user_id"], str) else None,
                "terminal_id": row["terminal_id"] if isinstance(row["terminal_id"], str) else None,
                "subjects": json.loads(row["subjects"]),
                "start": _iso(row["start"], tz),
                "end": _iso(row["end"], tz),
                "event_count": int(row["event_count"]),
                "event_ids": json.loads(row["event_ids"]),
                "explanation": row["explanation"],
                "explanation_en": row["explanation_en"],
                "evidence": json.loads(row["evidence"]),
                "status": row["status"],
                "detected_at": _iso(row["detected_at"], tz),
            }
        )
    return records


def _write(records: list[dict[str, Any]], fmt: str, out: TextIO) -> None:
    if fmt == "jsonl":
        for item in records:
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
        return
    writer = csv.DictWriter(out, fieldnames=list(EXPORT_FIELDS), lineterminator="\r\n")
    writer.writeheader()
    for item in records:
        flat = {
            k: (";".join(v) if isinstance(v, list) else json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v)
            for k, v in item.items()
        }
        writer.writerow(flat)


@alerts_app.command("export")
def export(
    fmt: str = typer.Option("jsonl", "--format", help="jsonl (one alert per line) or csv (UTF-8 with BOM, for Excel)."),
    since: str = typer.Option(None, "--since", help="Alerts whose story ends on or after this day or instant."),
    until: str = typer.Option(None, "--until", help="Alerts whose story starts before this day or instant."),
    rule: str = typer.Option(None, "--rule", help="Only these detector codes, comma-separated."),
    out: Path = typer.Option(None, "--out", help="Write to this file instead of standard output."),
) -> None:
    """Export alerts, one per line (JSON lines) or row (CSV): id, rule, severity, user, terminal,
    residents (pseudonymised), start and end (ISO 8601 with offset), event ids, title and explanation.
    The export is recorded in the platform's trail."""
    if fmt not in ("jsonl", "csv"):
        raise ValidationFailed(f"--format {fmt!r} is not known", hint="jsonl or csv")
    current = settings()
    engine = migrated_engine(current)
    now = datetime.now(UTC)
    start = parse_since(since, now, current.tz) if since else None
    end = parse_since(until, now, current.tz, option="--until") if until else None
    rules = [r.strip().upper() for r in rule.split(",")] if rule else None
    with engine.begin() as connection:
        frame = alerts_repo.alerts_frame(connection, current.municipality_code, since=start, until=end, rules=rules)
        record(
            connection,
            current.municipality_code,
            cli_actor(),
            "alerts_export",
            "alerts",
            None,
            {
                "format": fmt,
                "since": since,
                "until": until,
                "rules": rules,
                "count": len(frame),
                "out": str(out or "-"),
            },
        )
    records = export_records(frame, current.tz)
    if out is None:
        _write(records, fmt, sys.stdout)
        return
    with out.open("w", encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="") as handle:
        _write(records, fmt, handle)
    console.print(f"{len(records):,} alerts written to {out}", highlight=False)


@alerts_app.command("list")
def list_alerts(
    since: str = typer.Option("30d", "--since", help="Alerts whose story ends on or after this (default 30d)."),
    rule: str = typer.Option(None, "--rule", help="Only these detector codes, comma-separated."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many, newest first."),
    lang: str = typer.Option("ja", "--lang", help="ja or en."),
) -> None:
    """List alerts, newest first: number, severity, detector, account, time and the explanation."""
    current = settings()
    engine = migrated_engine(current)
    start = parse_since(since, datetime.now(UTC), current.tz)
    rules = [r.strip().upper() for r in rule.split(",")] if rule else None
    with engine.connect() as connection:
        frame = alerts_repo.alerts_frame(connection, current.municipality_code, since=start, rules=rules)
    shown = frame.iloc[::-1].head(limit)
    table = Table("#", "重要度", "rule", "user", "start", "事案", "explanation", title=f"alerts ({len(frame):,})")
    for row in shown.to_dict("records"):
        table.add_row(
            str(row["id"]),
            SEVERITY_JA.get(row["severity"], row["severity"]),
            row["rule"],
            str(row["user_id"] or ""),
            pd.Timestamp(row["start"]).tz_convert(current.tz).strftime("%Y-%m-%d %H:%M"),
            "抑止" if row["status"] == "suppressed" else "" if pd.isna(row["case_id"]) else f"#{int(row['case_id'])}",
            row["explanation"] if lang == "ja" else row["explanation_en"],
        )
    console.print(table)
