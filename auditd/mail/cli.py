"""``auditd mail``: who receives alert e-mail, what is waiting in the outbox, and sending it now."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.table import Table

from auditd.alerts.models import SEVERITIES
from auditd.cli.common import console, migrated_engine, settings
from auditd.errors import ValidationFailed
from auditd.mail import service
from auditd.mail.models import OUTBOX_STATUSES
from auditd.store.partitions import JST
from auditd.trail.service import cli_actor, record

mail_app = typer.Typer(help="Alert e-mail: recipients, the outbox, sending.", no_args_is_help=True)
recipients_app = typer.Typer(help="Who receives alert e-mail.", no_args_is_help=True)
mail_app.add_typer(recipients_app, name="recipients")


def register(app: typer.Typer) -> None:
    """Entry point (``auditd.cli``): adds ``auditd mail``."""
    app.add_typer(mail_app, name="mail")


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


@recipients_app.command("add")
def recipients_add(
    address: str = typer.Argument(..., help="The e-mail address (a role's shared mailbox is best)."),
    section: list[str] = typer.Option(
        [], "--section", help="A section code whose alerts this address receives; repeat it. None = every section."
    ),
    min_severity: str = typer.Option(
        "high", "--min-severity", help=f"The lowest severity received: {', '.join(SEVERITIES)}."
    ),
    immediate: bool = typer.Option(True, "--immediate/--no-immediate", help="Mail high and critical alerts at once."),
    digest: bool = typer.Option(True, "--digest/--no-digest", help="Receive the daily digest."),
    reminders: bool = typer.Option(True, "--reminders/--no-reminders", help="Receive reminders of open cases."),
    label: str = typer.Option(None, "--label", help="Who this is, as a role: e.g. 情報政策課 セキュリティ担当."),
) -> None:
    """Add an address that receives alert e-mail."""
    current = settings()
    engine = migrated_engine(current)
    with engine.begin() as connection:
        recipient = service.add_recipient(
            connection,
            current.municipality_code,
            address,
            sections=section,
            min_severity=min_severity,
            immediate=immediate,
            digest=digest,
            reminders=reminders,
            label=label,
            actor=cli_actor(),
            now=datetime.now(UTC),
            client="cli",
        )
    console.print(f"recipient #{recipient.id} added: {recipient.address}", highlight=False)


@recipients_app.command("list")
def recipients_list(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line instead of a table."),
    all_: bool = typer.Option(False, "--all", help="Include removed (inactive) recipients."),
) -> None:
    """List the addresses that receive alert e-mail."""
    current = settings()
    engine = migrated_engine(current)
    with engine.connect() as connection:
        found = service.list_recipients(connection, current.municipality_code, active_only=not all_)
    if as_json:
        for r in found:
            typer.echo(
                json.dumps(
                    {
                        "id": r.id,
                        "address": r.address,
                        "label": r.label,
                        "sections": None if r.sections is None else list(r.sections),
                        "min_severity": r.min_severity,
                        "immediate": r.immediate,
                        "digest": r.digest,
                        "reminders": r.reminders,
                        "active": r.active,
                        "created_at": r.created_at.isoformat(),
                        "created_by": r.created_by,
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = Table("id", "address", "label", "sections", "min severity", "immediate", "digest", "reminders", "active")
    for r in found:
        table.add_row(
            str(r.id),
            r.address,
            r.label or "",
            "all" if r.sections is None else ", ".join(r.sections),
            r.min_severity,
            "yes" if r.immediate else "no",
            "yes" if r.digest else "no",
            "yes" if r.reminders else "no",
            "yes" if r.active else "no",
        )
    console.print(table)


@recipients_app.command("remove")
def recipients_remove(recipient_id: int = typer.Argument(..., help="The recipient's id (see `list`).")) -> None:
    """Stop sending alert e-mail to a recipient (it is deactivated, not deleted)."""
    current = settings()
    engine = migrated_engine(current)
    with engine.begin() as connection:
        recipient = service.remove_recipient(
            connection, current.municipality_code, recipient_id, actor=cli_actor(), client="cli"
        )
    console.print(f"recipient #{recipient.id} removed: {recipient.address}", highlight=False)


@mail_app.command("outbox")
def outbox(
    status: str = typer.Option(None, "--status", help=f"Only messages in this status: {', '.join(OUTBOX_STATUSES)}."),
    limit: int = typer.Option(50, "--limit", min=1, help="How many of the latest messages."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line instead of a table."),
) -> None:
    """Show the latest messages: queued, being sent, sent or failed, with the last error."""
    if status is not None and status not in OUTBOX_STATUSES:
        raise ValidationFailed(f"--status {status!r} is not a status", hint=f"one of {', '.join(OUTBOX_STATUSES)}")
    current = settings()
    engine = migrated_engine(current)
    with engine.connect() as connection:
        rows = service.outbox(connection, current.municipality_code, status=status, limit=limit)
    if as_json:
        for row in rows:
            typer.echo(
                json.dumps(
                    {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}, ensure_ascii=False
                )
            )
        return
    table = Table("id", "kind", "to", "subject", "status", "attempts", "next attempt", "sent", "last error")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["kind"],
            row["recipient"],
            row["subject"],
            row["status"],
            str(row["attempts"]),
            _when(row["next_attempt_at"]) if row["status"] == "queued" else "",
            _when(row["sent_at"]),
            row["last_error"] or "",
        )
    console.print(table)


@mail_app.command("send")
def send(limit: int = typer.Option(100, "--limit", min=1, help="Send at most this many messages.")) -> None:
    """Send the due messages now (the scheduler does it every minute)."""
    current = settings()
    engine = migrated_engine(current)
    result = service.deliver(engine, current, limit=limit)
    with engine.begin() as connection:
        record(
            connection,
            current.municipality_code,
            cli_actor(),
            "mail_delivered",
            detail={"sent": result.sent, "retrying": result.retrying, "failed": result.failed},
            client="cli",
        )
    for error in result.errors:
        console.print(error, highlight=False, markup=False)
    console.print(result.summary(), highlight=False, markup=False)
    if not result.configured or result.stopped:
        raise typer.Exit(1)


@mail_app.command("test")
def send_test(address: str = typer.Argument(..., help="Where to send the test message.")) -> None:
    """Send a test message to ADDRESS now, to check the SMTP settings."""
    current = settings()
    engine = migrated_engine(current)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        message_id = service.enqueue_test(
            connection, current, current.municipality_code, address, now=now, actor=cli_actor(), client="cli"
        )
    result = service.deliver(engine, current, ids=[message_id])
    if result.sent:
        console.print(f"test message #{message_id} sent to {address}", highlight=False, markup=False)
        return
    detail = result.errors[0] if result.errors else result.summary()
    console.print(f"test message #{message_id} not sent: {detail}", highlight=False, markup=False)
    raise typer.Exit(1)
