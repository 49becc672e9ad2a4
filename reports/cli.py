"""``auditd report``: the annual self-inspection, the monthly log review and a resident's disclosure
report, as HTML, PDF or XLSX. Making a report is recorded in the platform's trail."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from auditd.cli.common import console, migrated_engine, settings
from auditd.errors import ValidationFailed
from auditd.trail.service import cli_actor
from reports.base import KIND_JA, ReportRequest, fiscal_year, generate, month
from reports.render import FORMATS

report_app = typer.Typer(
    help="Reports: annual self-inspection (自己点検), monthly log review, disclosure (開示請求).",
    no_args_is_help=True,
)

_FORMAT = typer.Option("pdf", "--format", "-f", help="pdf, html or xlsx.")
_OUT = typer.Option(
    None, "--out", "-o", help="Where to write the file (default: ./<kind>-<period>.<format>). '-' prints HTML."
)


def register(app: typer.Typer) -> None:
    """Entry point (``auditd.cli``): adds ``auditd report``."""
    app.add_typer(report_app, name="report")


def _write(request: ReportRequest, fmt: str, out: Path | None, default_name: str) -> None:
    if fmt not in FORMATS:
        raise ValidationFailed(f"--format {fmt!r} is not known", hint=", ".join(FORMATS))
    current = settings()
    with console.status(f"{KIND_JA[request.kind]}を作成しています…"), migrated_engine(current).begin() as connection:
        rendered = generate(connection, current, request, fmt, cli_actor(), "cli")
    if out is not None and str(out) == "-":
        if fmt != "html":
            raise ValidationFailed("only HTML can be printed to the terminal", hint="give --out FILE")
        typer.echo(rendered.content.decode("utf-8"))
        return
    path = out or Path(f"{default_name}.{fmt}")
    if path.is_dir():
        path = path / f"{default_name}.{fmt}"
    path.write_bytes(rendered.content)
    sections = len(rendered.document.sections)
    console.print(
        f"[green]{KIND_JA[request.kind]}[/green] {rendered.document.period_label}: {path} "
        f"({len(rendered.content):,} bytes, {sections} sections, SHA-256 {rendered.sha256[:16]}…)"
    )


@report_app.command("annual")
def annual(
    fiscal: int = typer.Option(..., "--fiscal-year", "-y", help="The fiscal year (年度) starting in April, e.g. 2025."),
    fmt: str = _FORMAT,
    out: Path | None = _OUT,
) -> None:
    """The annual self-inspection report (自己点検結果報告書) for one fiscal year, April to March: every
    figure computed from the store, keyed to the PIA controls, with sign-off boxes."""
    start, end = fiscal_year(fiscal)
    request = ReportRequest("annual", settings().municipality_code, start, end)
    _write(request, fmt, out, f"annual-{fiscal}")


@report_app.command("monthly")
def monthly(
    month_text: str = typer.Option(..., "--month", "-m", help="The month reviewed, YYYY-MM."),
    fmt: str = _FORMAT,
    out: Path | None = _OUT,
) -> None:
    """The monthly access-log review record (アクセスログ点検記録): what was reviewed, the findings and
    their dispositions, with boxes for the reviewer's and the responsible officer's sign-off."""
    start, end = month(month_text)
    request = ReportRequest("monthly", settings().municipality_code, start, end)
    _write(request, fmt, out, f"monthly-{month_text}")


@report_app.command("disclosure")
def disclosure(
    resident: str = typer.Option(
        ..., "--resident", "-r", help="The resident's 宛名番号 (pseudonymised to search; never stored)."
    ),
    since: str = typer.Option(..., "--since", help="First day, YYYY-MM-DD."),
    until: str = typer.Option(..., "--until", help="Last day, YYYY-MM-DD (inclusive)."),
    show_staff: bool | None = typer.Option(
        None, "--show-staff/--hide-staff", help="Show staff names (default: the setting report_show_staff)."
    ),
    fmt: str = _FORMAT,
    out: Path | None = _OUT,
) -> None:
    """Every access to one resident's records in a period (開示請求への回答資料): date, section, business
    and action, with staff names shown or withheld. Making it is recorded in the platform's trail."""
    try:
        first, last = date.fromisoformat(since), date.fromisoformat(until)
    except ValueError as error:
        raise ValidationFailed("--since and --until are dates", hint="YYYY-MM-DD, e.g. 2026-04-01") from error
    request = ReportRequest("disclosure", settings().municipality_code, first, last, resident, show_staff)
    _write(request, fmt, out, f"disclosure-{since}-{until}")
