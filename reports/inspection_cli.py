"""``auditd pia`` (the register of PIA reports, 評価書台帳) and ``auditd attest`` (attestations with
evidence, 自己点検の証跡): what the annual self-inspection needs that no log shows. Whoever runs these
on the server acts in their own name (``cli_actor``); every change is an entry in the platform trail."""

from __future__ import annotations

import mimetypes
from datetime import UTC, date, datetime
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from auditd.cli.common import console, migrated_engine, settings
from auditd.errors import ValidationFailed
from auditd.reports.models import ATTESTATION_ITEMS, ATTESTATION_RESULTS, PIA_KINDS
from auditd.settings import Settings
from auditd.trail.service import cli_actor
from reports import attest, pia
from reports.schemas import PiaIn, PiaOut, PiaReviewIn

pia_app = typer.Typer(
    help="The PIA register (評価書台帳): each 評価書, its yearly review and five-year re-assessment.",
    no_args_is_help=True,
)
attest_app = typer.Typer(
    help="Attestations (自己点検の証跡): answer what no log shows, for a fiscal year, with evidence. "
    "`auditd attest ITEM --fiscal-year 2025 --result done --statement …`; items: " + ", ".join(ATTESTATION_ITEMS),
    no_args_is_help=True,
)


def register_pia(app: typer.Typer) -> None:
    """Entry point (``auditd.cli``): adds ``auditd pia``."""
    app.add_typer(pia_app, name="pia")


def register_attest(app: typer.Typer) -> None:
    """Entry point (``auditd.cli``): adds ``auditd attest``."""
    app.add_typer(attest_app, name="attest")


def _today(current: Settings) -> date:
    return datetime.now(UTC).astimezone(current.tz).date()


def _day(text: str | None, option: str) -> date | None:
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as error:
        raise ValidationFailed(f"{option} {text!r} is not a date", hint="YYYY-MM-DD, e.g. 2025-04-01") from error


def _input_error(error: ValidationError) -> ValidationFailed:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return ValidationFailed(f"{where}: {first['msg']}" if where else str(first["msg"]))


# -- auditd pia ----------------------------------------------------------------------------------------


def _due(day: date, overdue: bool) -> str:
    return f"[bold red]{day}（期限超過）[/bold red]" if overdue else str(day)


def _print_register(items: list[PiaOut]) -> None:
    table = Table(
        "#",
        "評価書",
        "事務",
        "種類",
        "公表日",
        "直近の見直し",
        "再評価",
        "次回見直し期限",
        "再評価期限",
        title="評価書台帳 / PIA register",
    )
    for p in items:
        table.add_row(
            str(p.id) + ("" if p.active else " (取下げ)"),
            p.title,
            p.jimu,
            p.kind_ja,
            str(p.published_on),
            str(p.last_reviewed_on or "—"),
            str(p.reassessed_on or "—"),
            _due(p.review_due, p.review_overdue),
            _due(p.reassessment_due, p.reassessment_overdue),
        )
    console.print(table)


@pia_app.command("add")
def add(
    title: str = typer.Option(..., "--title", help="評価書名, e.g. 個人住民税に関する事務 全項目評価書."),
    jimu: str = typer.Option(..., "--jimu", help="The 事務 it covers, e.g. 個人住民税."),
    kind: str = typer.Option(..., "--kind", help="basic (基礎項目評価), focused (重点項目評価) or full (全項目評価)."),
    published: str = typer.Option(..., "--published", help="公表日, YYYY-MM-DD."),
    reviewed: str | None = typer.Option(None, "--reviewed", help="直近の見直し日, YYYY-MM-DD, if any."),
    reassessed: str | None = typer.Option(None, "--reassessed", help="再評価日, YYYY-MM-DD, if any."),
    note: str | None = typer.Option(None, "--note", help="A note (URL of the publication, …)."),
) -> None:
    """Add a 評価書 to the register."""
    if kind not in PIA_KINDS:
        raise ValidationFailed(
            f"--kind {kind!r} is not known", hint=", ".join(f"{k} ({v})" for k, v in PIA_KINDS.items())
        )
    try:
        body = PiaIn.model_validate(
            {
                "title": title,
                "jimu": jimu,
                "kind": kind,
                "published_on": _day(published, "--published"),
                "last_reviewed_on": _day(reviewed, "--reviewed"),
                "reassessed_on": _day(reassessed, "--reassessed"),
                "note": note,
            }
        )
    except ValidationError as error:
        raise _input_error(error) from error
    current = settings()
    with migrated_engine(current).begin() as connection:
        pia_id = pia.add(
            connection, current.municipality_code, body, actor=cli_actor(), client="cli", now=datetime.now(UTC)
        )
        added = pia.one(connection, current.municipality_code, pia_id, _today(current))
    console.print(
        f"[green]評価書 #{pia_id}[/green] {added.title}: 次回見直し {added.review_due}, 再評価 {added.reassessment_due}"
    )


@pia_app.command("list")
def list_register(
    withdrawn: bool = typer.Option(False, "--all", help="Also the withdrawn ones."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The register with the next review and re-assessment due dates (overdue in red)."""
    current = settings()
    with migrated_engine(current).connect() as connection:
        items = pia.register(connection, current.municipality_code, _today(current), withdrawn=withdrawn)
    if as_json:
        console.print_json(data=[p.model_dump(mode="json") for p in items])
        return
    if not items:
        console.print("評価書は登録されていません / the register is empty (auditd pia add, auditd pia import)")
        return
    _print_register(items)


@pia_app.command("show")
def show(pia_id: int = typer.Argument(..., min=1, help="The 評価書's number.")) -> None:
    """One 評価書 with every review and re-assessment recorded."""
    current = settings()
    with migrated_engine(current).connect() as connection:
        found = pia.one(connection, current.municipality_code, pia_id, _today(current))
    _print_register([found])
    table = Table("日付", "種別", "記録者", "メモ", title="見直しの記録 / reviews")
    for r in found.reviews or []:
        table.add_row(str(r.reviewed_on), pia.review_kind_ja(r.kind), r.actor, r.note or "")
    console.print(table)


@pia_app.command("review")
def review(
    pia_id: int = typer.Argument(..., min=1, help="The 評価書's number (auditd pia list)."),
    on: str = typer.Option(..., "--on", help="The day the review was done, YYYY-MM-DD."),
    note: str | None = typer.Option(None, "--note", help="What was reviewed, what changed."),
    reassessment: bool = typer.Option(False, "--reassessment", help="It was a re-assessment (再評価), not a review."),
) -> None:
    """Record a review (見直し) or re-assessment (再評価): kept in the history, due dates moved on."""
    day = _day(on, "--on")
    try:
        body = PiaReviewIn.model_validate(
            {"reviewed_on": day, "kind": "reassessment" if reassessment else "review", "note": note}
        )
    except ValidationError as error:
        raise _input_error(error) from error
    current = settings()
    with migrated_engine(current).begin() as connection:
        found = pia.review(
            connection,
            current.municipality_code,
            pia_id,
            body,
            actor=cli_actor(),
            client="cli",
            now=datetime.now(UTC),
            today=_today(current),
        )
    console.print(
        f"[green]評価書 #{pia_id}[/green] {pia.review_kind_ja(body.kind)} {day}: "
        f"次回見直し {found.review_due}, 再評価 {found.reassessment_due}"
    )


@pia_app.command("withdraw")
def withdraw(pia_id: int = typer.Argument(..., min=1, help="The 評価書's number.")) -> None:
    """Take a 評価書 off the register (kept, marked withdrawn; no more reminders)."""
    current = settings()
    with migrated_engine(current).begin() as connection:
        pia.withdraw(
            connection, current.municipality_code, pia_id, actor=cli_actor(), client="cli", now=datetime.now(UTC)
        )
    console.print(f"評価書 #{pia_id} を取り下げました / withdrawn")


@pia_app.command("import")
def import_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="A CSV file."),
) -> None:
    """Add the 評価書 of a CSV (CP932, or UTF-8 with or without a BOM) with the columns
    評価書名,事務,評価の種類,公表日,直近の見直し日,再評価日 (and optionally 備考). Every row is checked
    first: one bad row (named by its line) and nothing is imported. Rows already registered (same
    評価書名 and 事務) are skipped."""
    current = settings()
    with migrated_engine(current).begin() as connection:
        added, skipped = pia.import_csv(
            connection,
            current.municipality_code,
            file.read_bytes(),
            actor=cli_actor(),
            client="cli",
            now=datetime.now(UTC),
        )
    console.print(f"[green]{added} 件を登録しました[/green] / {added} added, {skipped} already registered")


@pia_app.command("export")
def export(
    out: Path | None = typer.Option(None, "--out", "-o", help="Where to write the CSV (default: print it)."),
) -> None:
    """The register as CSV (UTF-8 with a BOM): the import's columns, the note and the due dates."""
    current = settings()
    with migrated_engine(current).connect() as connection:
        content = pia.export_csv(connection, current.municipality_code, _today(current))
    if out is None:
        typer.echo(content.decode("utf-8-sig"), nl=False)
        return
    out.write_bytes(content)
    console.print(f"{out} ({len(content):,} bytes)")


# -- auditd attest -------------------------------------------------------------------------------------


def _attest_command(item: str, label: str) -> None:
    def command(
        fiscal: int = typer.Option(..., "--fiscal-year", "-y", help="The fiscal year (年度), e.g. 2025."),
        result: str = typer.Option(
            ..., "--result", help="done (実施済), partly (一部), not_done (未実施) or not_applicable (該当なし)."
        ),
        statement: str = typer.Option(..., "--statement", help="What was done, when and by whom."),
        evidence: Path | None = typer.Option(
            None, "--evidence", exists=True, dir_okay=False, readable=True, help="A file kept as evidence."
        ),
    ) -> None:
        current = settings()
        file = None
        if evidence is not None:
            attest.check_evidence_size(current, evidence.stat().st_size)
            media = mimetypes.guess_type(evidence.name)[0] or "application/octet-stream"
            file = attest.Evidence(evidence.name, media, evidence.read_bytes())
        with migrated_engine(current).begin() as connection:
            given = attest.attest(
                connection,
                current,
                current.municipality_code,
                fiscal_year=fiscal,
                item=item,
                result=result,
                statement=statement,
                evidence=file,
                actor=cli_actor(),
                client="cli",
                now=datetime.now(UTC),
            )
        sha = f", SHA-256 {given.evidence_sha256[:16]}…" if given.evidence_sha256 else ""
        console.print(f"[green]#{given.id}[/green] {fiscal}年度 {label}: {given.result_ja}{sha}")

    command.__doc__ = f"{label}: record this fiscal year's answer (supersedes an earlier one, which is kept)."
    attest_app.command(item)(command)


for _item, _label in ATTESTATION_ITEMS.items():
    _attest_command(_item, _label)


@attest_app.command("list")
def list_attestations(
    fiscal: int = typer.Option(..., "--fiscal-year", "-y", help="The fiscal year (年度), e.g. 2025."),
    history: bool = typer.Option(False, "--history", help="Also the superseded answers."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Each item's answer for the fiscal year (未回答 where nobody attested yet)."""
    current = settings()
    with migrated_engine(current).connect() as connection:
        found = attest.listing(connection, current.municipality_code, fiscal)
    if as_json:
        console.print_json(found.model_dump_json())
        return
    table = Table("項目", "回答", "内容", "証跡", "SHA-256", "回答者", "日時", title=f"{fiscal}年度 自己点検の証跡")
    answered = {a.item for a in found.items}
    for a in found.items:
        if not (a.current or history):
            continue
        table.add_row(
            a.item_ja + ("" if a.current else "（旧）"),
            a.result_ja,
            a.statement,
            a.evidence_name or "—",
            (a.evidence_sha256 or "")[:16],
            a.attested_by,
            a.attested_at.astimezone(current.tz).strftime("%Y-%m-%d %H:%M"),
        )
    for item, label in ATTESTATION_ITEMS.items():
        if item not in answered:
            table.add_row(label, "[yellow]未回答[/yellow]", "", "", "", "", "")
    console.print(table)
    console.print("回答: " + ", ".join(f"{k} = {v}" for k, v in ATTESTATION_RESULTS.items()), style="dim")
