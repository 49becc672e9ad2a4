"""``auditd rights``: what an operator does with the rights lifecycle from a shell."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import typer
from pydantic import ValidationError as PydanticValidationError
from rich.table import Table

from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cli.common import console, migrated_engine, settings
from auditd.errors import ValidationFailed
from auditd.rights import campaigns, contracts, ledger, service
from auditd.rights.schemas import CampaignIn, ContractDetail, ContractIn, ContractOperatorIn
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


# -- recertification campaigns (権限表の見直し) ---------------------------------------------------------

campaign_app = typer.Typer(help="Recertification campaigns (権限表の見直し).", no_args_is_help=True)
rights_app.add_typer(campaign_app, name="campaign")


def _cli_principal(municipality_code: str) -> Principal:
    """The shell's operator acts as an officer (they hold the server)."""
    actor = cli_actor()
    return Principal(None, actor, actor, PlatformRole.OFFICER, municipality_code)


def _day(text: str | None, default: date, option: str) -> date:
    try:
        return date.fromisoformat(text) if text else default
    except ValueError as exc:
        raise ValidationFailed(f"{option} {text!r} is not a date", hint=f"e.g. {option} 2026-05-15") from exc


@campaign_app.command("open")
def campaign_open(
    title: str = typer.Option(None, "--title", help="Default: 権限表の見直し YYYY-MM-DD."),
    deadline: str = typer.Option(
        None, "--deadline", help="Last day to decide (YYYY-MM-DD); default AUDITD_RECERT_DAYS."
    ),
    months: int = typer.Option(None, "--usage-months", min=1, max=24, help="Months of use shown next to each grant."),
) -> None:
    """Open a campaign now: every active grant goes to the section head of its holder's section."""
    current = settings()
    now = datetime.now(UTC)
    today = service.today_in(current, now)
    wanted = CampaignIn(
        title=title or None, deadline=_day(deadline, today, "--deadline") if deadline else None, usage_months=months
    )
    with migrated_engine(current).begin() as connection:
        opened = campaigns.open_campaign(
            connection,
            current,
            current.municipality_code,
            wanted,
            actor=cli_actor(),
            now=now,
            today=today,
            client="cli",
        )
    console.print(
        f"campaign {opened.id} opened: {opened.items} grants to review ({opened.unused} unused), "
        f"deadline {opened.deadline.isoformat()}",
        highlight=False,
    )


@campaign_app.command("list")
def campaign_list() -> None:
    """Campaigns, newest first, with their progress."""
    current = settings()
    with migrated_engine(current).connect() as connection:
        found = campaigns.list_campaigns(connection, _cli_principal(current.municipality_code))
    table = Table("id", "title", "status", "opened", "deadline", "decided", "items", "unused")
    for c in found.campaigns:
        table.add_row(
            str(c.id), c.title, c.status, c.starts_on.isoformat(), c.deadline.isoformat(), str(c.decided),
            str(c.items), str(c.unused),
        )  # fmt: skip
    console.print(table)


@campaign_app.command("show")
def campaign_show(
    campaign_id: int = typer.Argument(..., min=1),
    undecided: bool = typer.Option(False, "--undecided", help="Only the grants not decided yet."),
) -> None:
    """The grants under review with their use, and the decisions taken."""
    current = settings()
    with migrated_engine(current).connect() as connection:
        detail = campaigns.campaign_detail(
            connection, _cli_principal(current.municipality_code), campaign_id, undecided=undecided
        )
    table = Table("item", "section", "account", "role", "lookups", "days", "last used", "decision", "flagged")
    for i in detail.items:
        table.add_row(
            str(i.id), i.section_code or "", i.user_id, i.role, ("UNUSED" if i.unused else str(i.lookups)),
            str(i.active_days), i.last_used.isoformat() if i.last_used else "", i.decision or "",
            "yes" if i.flagged_at else "",
        )  # fmt: skip
    c = detail.campaign
    console.print(f"#{c.id} {c.title} ({c.status}), deadline {c.deadline.isoformat()}", highlight=False)
    console.print(table)


@campaign_app.command("remind")
def campaign_remind(campaign_id: int = typer.Argument(..., min=1)) -> None:
    """Mail the section heads who still have grants to decide (at most once a day)."""
    current = settings()
    now = datetime.now(UTC)
    with migrated_engine(current).begin() as connection:
        done = campaigns.remind(
            connection,
            current,
            current.municipality_code,
            campaign_id,
            actor=cli_actor(),
            now=now,
            today=service.today_in(current, now),
            client="cli",
        )
    console.print(f"{len(done.reminded)} sections reminded, {done.mails} mails queued", highlight=False)


@campaign_app.command("close")
def campaign_close(campaign_id: int = typer.Argument(..., min=1)) -> None:
    """Close a campaign; grants still undecided are flagged."""
    current = settings()
    now = datetime.now(UTC)
    with migrated_engine(current).begin() as connection:
        closed = campaigns.close_campaign(
            connection,
            _cli_principal(current.municipality_code),
            campaign_id,
            now=now,
            today=service.today_in(current, now),
            client="cli",
        )
    console.print(f"campaign {closed.id} closed: {closed.decided}/{closed.items} decided", highlight=False)


@campaign_app.command("report")
def campaign_report(
    campaign_id: int = typer.Argument(..., min=1),
    csv_out: Path = typer.Option(None, "--csv", help="Write the report as CSV to this file."),
) -> None:
    """Counts by section: reviewed, kept, revoked, changed, unreviewed, unused."""
    current = settings()
    principal = _cli_principal(current.municipality_code)
    with migrated_engine(current).begin() as connection:
        built = campaigns.report(connection, principal, campaign_id)
        if csv_out is not None:
            _, body = campaigns.report_csv(
                connection, principal, campaign_id, now=datetime.now(UTC), client="cli", language=current.language
            )
            csv_out.write_bytes(body)
    table = Table(*campaigns.REPORT_COLUMNS)
    for row in [*built.sections, built.total]:
        values = row.model_dump()
        label = "total" if row is built.total else (values["section_code"] or "-")
        table.add_row(label, *(str(values[name]) for name in campaigns.REPORT_COLUMNS[1:]))
    console.print(table)


# -- end recertification campaigns


# -- ledger (権限管理表 import and export) ----------------------------------------------------------------

ledger_app = typer.Typer(help="The 権限管理表 as CSV: export for Excel, import from Excel.", no_args_is_help=True)
rights_app.add_typer(ledger_app, name="ledger")


def _shell_officer(municipality_code: str) -> Principal:
    """The shell's operator acts as an officer (they hold the server), named ``cli:<user>``."""
    actor = cli_actor()
    return Principal(None, actor, actor, PlatformRole.OFFICER, municipality_code)


def _date_option(text: str | None, option: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError as exc:
        raise ValidationFailed(f"{option} {text!r} is not a date", hint=f"e.g. {option} 2026-04-01") from exc


@ledger_app.command("export")
def ledger_export(
    out: Path = typer.Option(..., "--out", help="The CSV file to write.", dir_okay=False),
    encoding: str = typer.Option("cp932", "--encoding", help="cp932 (Excel's CSV) or utf-8 (with BOM)."),
    on: str = typer.Option(None, "--on", help="Only the grants in force on this day (YYYY-MM-DD)."),
) -> None:
    """Write the ledger: every grant not revoked (or those in force --on a day), Japanese headers.
    In CP932 a character it lacks is written as 〓 and counted."""
    if encoding not in ("cp932", "utf-8"):
        raise ValidationFailed(f"--encoding {encoding!r} is not cp932 or utf-8")
    current = settings()
    day = _date_option(on, "--on")
    with migrated_engine(current).begin() as connection:
        done = ledger.export(
            connection,
            _shell_officer(current.municipality_code),
            encoding="cp932" if encoding == "cp932" else "utf-8",
            on=day,
            today=service.today_in(current),
            client="cli",
        )
    out.write_bytes(done.data)
    note = f"; {done.replaced} cells had characters CP932 lacks (written as 〓)" if done.replaced else ""
    console.print(f"{out}: {done.rows} grants ({encoding}){note}", highlight=False)


@ledger_app.command("import")
def ledger_import(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The CSV file (from Excel or an export)."),
    encoding: str = typer.Option("auto", "--encoding", help="auto (UTF-8, else CP932), cp932 or utf-8."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every row and report; change nothing."),
) -> None:
    """Import the ledger: all rows or none. Every bad row is listed with its line (the header is line
    1) and the reason, and then nothing is applied. Re-importing the same file changes nothing."""
    if encoding not in ("auto", "cp932", "utf-8"):
        raise ValidationFailed(f"--encoding {encoding!r} is not auto, cp932 or utf-8")
    current = settings()
    with migrated_engine(current).begin() as connection:
        result = ledger.import_ledger(
            connection,
            _shell_officer(current.municipality_code),
            service.role_catalog(current),
            file.read_bytes(),
            encoding="cp932" if encoding == "cp932" else "utf-8" if encoding == "utf-8" else "auto",
            dry_run=dry_run,
            filename=file.name,
            now=datetime.now(UTC),
            client="cli",
        )
    if result.errors:
        table = Table("line", "column", "reason")
        for error in result.errors:
            table.add_row(str(error.line), error.column or "", error.reason)
        console.print(table)
    for warning in result.warnings:
        console.print(f"warning: {warning}", highlight=False)
    state = "applied" if result.applied else "dry run, nothing changed" if not result.errors else "NOT applied"
    console.print(
        f"{file.name} ({result.encoding}): {result.rows} rows, {result.issued} issued, {result.amended} amended, "
        f"{result.unchanged} unchanged, {len(result.accounts_created)} accounts created, "
        f"{len(result.errors)} rejected — {state}",
        highlight=False,
    )
    if result.errors:
        raise typer.Exit(1)


# -- contractors (委託業者の作業者名簿) -------------------------------------------------------------------

contract_app = typer.Typer(help="The contractor roster: contracts, operators and pledges.", no_args_is_help=True)
rights_app.add_typer(contract_app, name="contract")


def _print_contract(detail: ContractDetail) -> None:
    c = detail.contract
    window = f"{c.window_start:%H:%M}–{c.window_end:%H:%M}" if c.window_start and c.window_end else "-"
    console.print(
        f"#{c.id} {c.contract_number} {c.contractor}: {c.valid_from} – {c.valid_to} (exclusive), "
        f"window {window} weekdays {c.weekdays or '-'}, sections {','.join(c.sections) or '-'}",
        highlight=False,
    )
    table = Table("staff", "name", "pledge")
    for operator in detail.operators:
        table.add_row(operator.staff_id, operator.name or "", str(operator.pledge_date or "none"))
    if detail.operators:
        console.print(table)


@contract_app.command("add")
def contract_add(
    number: str = typer.Option(..., "--number", help="The contract number (契約番号), unique."),
    contractor: str = typer.Option(..., "--contractor", help="The company (委託業者名)."),
    valid_from: str = typer.Option(..., "--from", help="First day of the contract (YYYY-MM-DD)."),
    valid_to: str = typer.Option(..., "--to", help="First day AFTER the contract (YYYY-MM-DD): grants end then."),
    window: str = typer.Option(None, "--window", help="Work window, e.g. 09:00-18:00 (Japan time)."),
    weekdays: str = typer.Option("12345", "--weekdays", help="Allowed weekdays as digits, 1 = Monday … 7 = Sunday."),
    sections: str = typer.Option("", "--sections", help="Section codes, comma-separated."),
    note: str = typer.Option(None, "--note"),
) -> None:
    """Record a contract of the roster."""
    start, _, end = (window or "").partition("-")
    try:
        wanted = ContractIn.model_validate(
            {
                "contract_number": number,
                "contractor": contractor,
                "valid_from": valid_from,
                "valid_to": valid_to,
                "window_start": start or None,
                "window_end": end or None,
                "weekdays": weekdays,
                "sections": [s.strip() for s in sections.split(",") if s.strip()],
                "note": note,
            }
        )
    except PydanticValidationError as exc:
        raise ValidationFailed(f"the contract cannot be recorded: {exc.errors()[0]['msg']}") from exc
    current = settings()
    with migrated_engine(current).begin() as connection:
        principal = _shell_officer(current.municipality_code)
        added = contracts.add_contract(connection, principal, wanted, now=datetime.now(UTC), client="cli")
        _print_contract(contracts.contract(connection, principal, added.id))


@contract_app.command("list")
def contract_list(
    on: str = typer.Option(None, "--on", help="Only the contracts in force on this day (YYYY-MM-DD)."),
) -> None:
    """The contracts, the latest first."""
    current = settings()
    with migrated_engine(current).connect() as connection:
        found = contracts.list_contracts(
            connection, _shell_officer(current.municipality_code), on=_date_option(on, "--on")
        )
    table = Table("id", "number", "contractor", "from", "to", "window", "weekdays", "sections")
    for c in found.contracts:
        window = f"{c.window_start:%H:%M}-{c.window_end:%H:%M}" if c.window_start and c.window_end else ""
        table.add_row(
            str(c.id), c.contract_number, c.contractor, str(c.valid_from), str(c.valid_to), window, c.weekdays,
            ",".join(c.sections),
        )  # fmt: skip
    console.print(table)


@contract_app.command("show")
def contract_show(contract: str = typer.Argument(..., help="The contract's number or id.")) -> None:
    """A contract and the people working under it, with their pledge day."""
    current = settings()
    with migrated_engine(current).connect() as connection:
        _print_contract(contracts.find(connection, _shell_officer(current.municipality_code), contract))


@contract_app.command("assign")
def contract_assign(
    contract: str = typer.Argument(..., help="The contract's number or id."),
    staff_id: str = typer.Argument(..., help="The person (職員番号 of the staff feed)."),
    pledge: str = typer.Option(None, "--pledge", help="The day the pledge (誓約書) was signed (YYYY-MM-DD)."),
) -> None:
    """Put a person under a contract, or record their pledge day."""
    current = settings()
    with migrated_engine(current).begin() as connection:
        principal = _shell_officer(current.municipality_code)
        found = contracts.find(connection, principal, contract)
        try:
            wanted = ContractOperatorIn.model_validate(
                {"staff_id": staff_id, "pledge_date": _date_option(pledge, "--pledge")}
            )
        except PydanticValidationError as exc:
            raise ValidationFailed(f"{staff_id!r}: {exc.errors()[0]['msg']}") from exc
        _print_contract(
            contracts.assign(connection, principal, found.contract.id, wanted, now=datetime.now(UTC), client="cli")
        )


# -- end ledger and contractors
