"""``auditd cases``: the cases (事案) from a shell: list them, show one, triage now, queue the daily
e-mails now. Handling a case (assign, dispose, breach checklist) is a person's act, done in the
dashboard or through the API with their own login."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import typer
from rich.table import Table

from auditd.alerts.models import SEVERITY_JA
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases import service
from auditd.cli.common import console, migrated_engine, settings
from auditd.errors import ValidationFailed
from auditd.mail import service as mail
from auditd.settings import Settings
from auditd.trail.service import cli_actor

cases_app = typer.Typer(help="Cases (事案): alerts grouped into one story each.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Entry point (``auditd.cli``): adds ``auditd cases``."""
    app.add_typer(cases_app, name="cases")


def _operator(current: Settings) -> Principal:
    """Whoever runs the command on the server acts as an officer of the configured municipality."""
    actor = cli_actor()
    return Principal(None, actor, actor, PlatformRole.OFFICER, current.municipality_code)


@cases_app.command("list")
def list_cases(
    status: str = typer.Option(None, "--status", help="new, investigating or closed."),
    limit: int = typer.Option(50, "--limit", min=1, help="Show at most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Cases, newest first: number, status, severity, account, section, alerts and the story's span."""
    if status is not None and status not in ("new", "investigating", "closed"):
        raise ValidationFailed(f"--status {status!r} is not known", hint="new, investigating or closed")
    current = settings()
    with migrated_engine(current).connect() as connection:
        found = service.list_cases(connection, _operator(current), limit=limit, status=status)
    if as_json:
        console.print_json(found.model_dump_json())
        return
    table = Table("#", "状態", "重要度", "account", "section", "alerts", "from", "to", "title", title="事案 / cases")
    for case in found.items:
        table.add_row(
            str(case.id),
            case.status_ja + (f" ({case.disposition_ja})" if case.disposition_ja else ""),
            SEVERITY_JA.get(case.severity, case.severity),
            case.user_id or "",
            case.section or "",
            str(case.alert_count),
            case.first_start.astimezone(current.tz).strftime("%Y-%m-%d %H:%M"),
            case.last_end.astimezone(current.tz).strftime("%Y-%m-%d %H:%M"),
            case.title,
        )
    console.print(table)


@cases_app.command("show")
def show(
    case_id: int = typer.Argument(..., min=1, help="The case number."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One case: its alerts with their explanations, its history and its breach checklist. Reading it
    is recorded in the platform's trail."""
    current = settings()
    with migrated_engine(current).begin() as connection:
        detail = service.case_detail(connection, current, _operator(current), case_id, client="cli")
    if as_json:
        console.print_json(detail.model_dump_json())
        return
    console.print(
        f"[bold]事案 #{detail.id}[/] {detail.title} — {detail.status_ja}"
        + (f" / {detail.disposition_ja}: {detail.disposition_reason}" if detail.disposition_ja else ""),
        highlight=False,
    )
    for alert in detail.alerts:
        console.print(
            f"  #{alert.id} [{SEVERITY_JA.get(alert.severity, alert.severity)}] {alert.rule} {alert.explanation}",
            highlight=False,
        )
    for event in detail.history:
        text = event.body or (json.dumps(event.detail, ensure_ascii=False) if event.detail else "")
        console.print(f"  {event.ts.astimezone(current.tz):%Y-%m-%d %H:%M} {event.actor} {event.action} {text}")
    if detail.breach is not None:
        b = detail.breach
        console.print(
            f"  漏えい等報告: {'要報告' if b.reportable else '報告不要'}; 速報 {b.preliminary_due} "
            f"({'済' if b.preliminary_days_left is None else f'残り {b.preliminary_days_left} 日'}), "
            f"確報 {b.final_due} ({'済' if b.final_days_left is None else f'残り {b.final_days_left} 日'})",
            highlight=False,
        )


@cases_app.command("triage")
def triage() -> None:
    """Put alerts not yet in a case into cases (or suppress them) and queue the immediate e-mails.
    ``auditd detect`` and the detect job do this after every run."""
    current = settings()
    now = datetime.now(UTC)
    with migrated_engine(current).begin() as connection:
        result = service.triage(connection, current, current.municipality_code, now=now, actor=cli_actor())
        queued = mail.enqueue_alerts(connection, current, current.municipality_code, result.notices, now=now)
    console.print(
        f"{result.grouped:,} alert(s) into cases ({result.cases_opened:,} new), {result.suppressed:,} suppressed, "
        f"{queued:,} e-mail(s) queued"
    )


@cases_app.command("notify")
def notify(
    day: str = typer.Option(None, "--day", help="The digest's day (YYYY-MM-DD); default yesterday."),
) -> None:
    """Queue now what the morning jobs queue: the digest of a day's alerts and today's reminders
    (cases left open, breach reports due). ``auditd mail send`` delivers them."""
    current = settings()
    now = datetime.now(UTC)
    today = service.today_in(current, now)
    try:
        digest_day = date.fromisoformat(day) if day else today - timedelta(days=1)
    except ValueError as exc:
        raise ValidationFailed(f"--day {day!r} is not a date", hint="e.g. --day 2026-04-01") from exc
    code = current.municipality_code
    with migrated_engine(current).begin() as connection:
        notices = service.digest_notices(connection, current, code, digest_day)
        digests = mail.enqueue_digest(connection, current, code, digest_day, notices, now=now)
        items = service.reminders(connection, current, code, today)
        reminders = mail.enqueue_reminders(connection, current, code, today, items, now=now)
    console.print(
        f"digest of {digest_day}: {len(notices)} alert(s), {digests} mail(s); "
        f"reminders: {len(items)} item(s), {reminders} mail(s)"
    )
