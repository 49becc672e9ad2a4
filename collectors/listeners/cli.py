"""``auditd listen syslog``: receive syslog over the network and store events as they arrive."""

from __future__ import annotations

import asyncio
import os
import signal

import typer
from rich.table import Table

from auditd.cli.common import console, migrated_engine, settings
from auditd.trail.service import cli_actor
from collectors.listeners.syslog import DEFAULT_PORT, ListenerOptions, SyslogListener, parse_endpoint
from collectors.pipeline import IngestSummary
from collectors.profile import resolve_profile

listen_app = typer.Typer(
    help="Receive logs over the network and store them as they arrive (syslog over UDP and TCP).",
    no_args_is_help=True,
)
DEFAULT_ADDRESS = f"127.0.0.1:{DEFAULT_PORT}"


def register(app: typer.Typer) -> None:
    app.add_typer(listen_app, name="listen")


@listen_app.command("syslog")
def listen_syslog(
    profile: str = typer.Option(
        ...,
        "--profile",
        "-p",
        help="Profile that reads the messages: a built-in name (syslog-auditd-5424, "
        "syslog-kv-3164) or the path of a YAML profile with format: syslog.",
    ),
    udp: str | None = typer.Option(
        None, "--udp", metavar="HOST:PORT", help=f"Receive UDP syslog here, e.g. {DEFAULT_ADDRESS}."
    ),
    tcp: str | None = typer.Option(
        None,
        "--tcp",
        metavar="HOST:PORT",
        help=f"Receive TCP syslog here (octet-counted or one message per line), e.g. {DEFAULT_ADDRESS}.",
    ),
    batch_size: int = typer.Option(2000, "--batch-size", min=1, help="Store after this many messages …"),
    flush_ms: int = typer.Option(
        500, "--flush-ms", min=1, help="… or this many milliseconds after the first waiting one."
    ),
    max_message_bytes: int = typer.Option(
        65_536, "--max-message-bytes", min=480, help="Longer messages are not stored but quarantined as too_long."
    ),
    queue_messages: int = typer.Option(
        20_000,
        "--queue",
        min=1,
        help="Messages held in memory while the database is busy. When full, TCP senders "
        "are made to wait and UDP messages are dropped (and counted).",
    ),
    report_seconds: float = typer.Option(
        10.0, "--report-seconds", min=0, help="Print the counts this often (0: after every stored batch)."
    ),
) -> None:
    """Receive syslog (RFC 5424 or BSD/RFC 3164) over UDP and/or TCP and store the events as they arrive.

    With neither --udp nor --tcp it listens on both, at 127.0.0.1:5514. Every message is parsed with
    the profile; one that cannot be read is quarantined with the reason, never dropped. Stop with
    Ctrl+C (or SIGTERM): what is buffered is stored and the totals are printed. A second Ctrl+C stops
    waiting for a database that does not answer (the messages not stored are counted).
    """
    current = settings()
    chosen = resolve_profile(profile)
    options = ListenerOptions(
        udp=parse_endpoint(udp) if udp else (None if tcp else parse_endpoint(DEFAULT_ADDRESS)),
        tcp=parse_endpoint(tcp) if tcp else (None if udp else parse_endpoint(DEFAULT_ADDRESS)),
        batch_size=batch_size,
        flush_ms=flush_ms,
        max_message_bytes=max_message_bytes,
        queue_messages=max(queue_messages, batch_size),
        report_seconds=report_seconds,
    )
    engine = migrated_engine(current)
    from collectors.pipeline import Ingestor

    listener = SyslogListener(
        Ingestor(engine, current),
        chosen,
        options,
        actor=cli_actor(),
        say=lambda line: console.print(line, highlight=False),
    )
    total = asyncio.run(_serve(listener))
    _print_totals(listener, total)
    if listener.hung:
        # A database call that never returns holds a worker thread the interpreter would wait for at
        # exit; its transaction is not committed, and is rolled back when the process goes.
        console.file.flush()
        os._exit(1)


async def _serve(listener: SyslogListener) -> IngestSummary:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, listener.stop)
    return await listener.run(ready=_announce)


def _announce(listener: SyslogListener) -> None:
    where = []
    if listener.udp_address:
        where.append(f"udp {_address(listener.udp_address)}")
    if listener.tcp_address:
        where.append(f"tcp {_address(listener.tcp_address)}")
    options = listener.options
    console.print(
        f"listening for syslog on {', '.join(where)}  profile {listener.profile.name}, "
        f"source {listener.profile.source_name}, run {listener.run_id}  "
        f"(batches of {options.batch_size:,} or every {options.flush_ms:,} ms; Ctrl+C to stop)",
        highlight=False,
    )


def _address(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _print_totals(listener: SyslogListener, total: IngestSummary) -> None:
    stats = listener.stats
    table = Table("received", "udp", "tcp", "stored", "duplicate", "quarantined", "masked 個人番号", "udp dropped",
                  "not stored", title=f"syslog run {total.run_id}")  # fmt: skip
    table.add_row(
        *(
            f"{n:,}"
            for n in (
                stats.received,
                stats.udp_messages,
                stats.tcp_messages,
                total.accepted,
                total.duplicates,
                total.quarantined,
                total.masked,
                stats.udp_dropped,
                stats.unsaved,
            )
        )
    )
    console.print(table)
    if total.reasons:
        console.print(
            "quarantined: " + ", ".join(f"{code} {n:,}" for code, n in total.reasons.most_common()), highlight=False
        )
    if stats.udp_dropped:
        console.print(
            f"[bold yellow]{stats.udp_dropped:,} UDP messages were dropped because the queue was full[/] "
            "(UDP cannot make a sender wait): use TCP, a larger --queue, or a faster database.",
        )
    if stats.unsaved:
        console.print(f"[bold red]{stats.unsaved:,} messages could not be stored[/] (the database did not answer).")
    if listener.hung:
        console.print(f"run {total.run_id} could not be closed and stays 'running'; its stored events are complete.")
