"""``auditd listen syslog``: receive syslog over the network and store events as they arrive."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import typer
from rich.table import Table

from auditd.cli.common import console, settings
from auditd.errors import StoreUnavailable, ValidationFailed
from auditd.store.db import make_engine
from auditd.store.migrate import require_current
from auditd.trail.service import cli_actor
from collectors.listeners.syslog import DEFAULT_PORT, ListenerOptions, SyslogListener, parse_endpoint
from collectors.pipeline import IngestSummary
from collectors.profile import resolve_profile

listen_app = typer.Typer(
    help="Receive logs over the network and store them as they arrive (syslog over UDP, TCP and RELP).",
    no_args_is_help=True,
)
DEFAULT_ADDRESS = f"127.0.0.1:{DEFAULT_PORT}"
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``1073741824``, ``512M``, ``1G``, ``1.5GiB`` → bytes (binary multiples)."""
    found = _SIZE.fullmatch(text.strip())
    if not found:
        raise ValidationFailed(f"{text!r} is not a size", hint="for example 1G, 512M or 1073741824 (bytes)")
    number, unit = found.groups()
    return int(float(number) * 1024 ** " kmgt".index(unit.lower() or " "))


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
    relp: str | None = typer.Option(
        None,
        "--relp",
        metavar="HOST:PORT",
        help="Receive RELP here (rsyslog's omrelp), e.g. 127.0.0.1:2514: each message is acknowledged "
        "once it is safe in the spool, so the sender resends what a stop or a crash left unacknowledged.",
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
        help="Accepted for older scripts; not used: the command keeps what waits in the spool.",
        hidden=True,
    ),
    report_seconds: float = typer.Option(
        10.0, "--report-seconds", min=0, help="Print the counts this often (0: after every stored batch)."
    ),
    spool_dir: Path | None = typer.Option(
        None,
        "--spool-dir",
        help="Folder where every message is written before it is stored, so that a kill or a database "
        "outage loses nothing. Default: AUDITD_SPOOL_DIR (or <data dir>/spool) / syslog-<source>. "
        "It holds raw messages: keep it on a local, encrypted disk only auditd can read.",
    ),
    spool_max: str | None = typer.Option(
        None,
        "--spool-max",
        metavar="SIZE",
        help="Most disk the spool may take (e.g. 512M, 1G; default AUDITD_SPOOL_MAX_BYTES, 1G). When it is "
        "full, TCP senders are made to wait and UDP messages are dropped (and counted).",
    ),
) -> None:
    """Receive syslog (RFC 5424 or BSD/RFC 3164) over UDP, TCP and/or RELP and store the events as they arrive.

    With none of --udp, --tcp and --relp it listens on UDP and TCP, at 127.0.0.1:5514. Every message is parsed with
    the profile; one that cannot be read is quarantined with the reason, never dropped. Stop with
    Ctrl+C (or SIGTERM): what is buffered is stored and the totals are printed. A second Ctrl+C stops
    waiting for a database that does not answer (the messages not stored are counted).

    Every message is first written to the spool (--spool-dir). While the database is away the spool
    grows, up to --spool-max; killed or stopped, the listener stores what the spool holds when it
    starts again, and nothing twice.
    """
    current = settings()
    chosen = resolve_profile(profile)
    spool_root = current.spool_dir or current.data_dir / "spool"
    nothing_given = not (udp or tcp or relp)
    options = ListenerOptions(
        udp=parse_endpoint(udp) if udp else (parse_endpoint(DEFAULT_ADDRESS) if nothing_given else None),
        tcp=parse_endpoint(tcp) if tcp else (parse_endpoint(DEFAULT_ADDRESS) if nothing_given else None),
        relp=parse_endpoint(relp) if relp else None,
        batch_size=batch_size,
        flush_ms=flush_ms,
        max_message_bytes=max_message_bytes,
        queue_messages=max(queue_messages, batch_size),
        report_seconds=report_seconds,
        spool_dir=spool_dir or spool_root / f"syslog-{chosen.source_name}",
        spool_max_bytes=parse_size(spool_max) if spool_max else current.spool_max_bytes,
    )
    engine = make_engine(current.db_url)
    try:
        require_current(engine)
    except StoreUnavailable as exc:
        if exc.__cause__ is None:  # the store answers, at another migration: say how to fix it
            raise
        # the store does not answer (restarted during an outage): listen, spool, and open the run when it does
        console.print(f"the store does not answer yet: {str(exc.__cause__).splitlines()[0][:200]}", highlight=False)
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
    options = listener.options
    console.print(
        f"listening for syslog on {listener.addresses()}  profile {listener.profile.name}, "
        f"source {listener.profile.source_name}, run {listener.run_id}  "
        f"(batches of {options.batch_size:,} or every {options.flush_ms:,} ms; Ctrl+C to stop)",
        highlight=False,
    )


def _print_totals(listener: SyslogListener, total: IngestSummary) -> None:
    stats = listener.stats
    table = Table("received", "udp", "tcp", "relp", "stored", "duplicate", "quarantined", "masked 個人番号",
                  "udp dropped", "not stored", title=f"syslog run {total.run_id}")  # fmt: skip
    table.add_row(
        *(
            f"{n:,}"
            for n in (
                stats.received,
                stats.udp_messages,
                stats.tcp_messages,
                stats.relp_messages,
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
    if stats.unsaved and listener.options.spool_dir is not None:
        console.print(
            f"[bold yellow]{stats.unsaved:,} messages could not be stored yet[/] (the database did not answer): "
            f"they are kept in the spool {listener.options.spool_dir} and stored when the listener starts again."
        )
    elif stats.unsaved:
        console.print(f"[bold red]{stats.unsaved:,} messages could not be stored[/] (the database did not answer).")
    if listener.hung:
        console.print(f"run {total.run_id} could not be closed and stays 'running'; its stored events are complete.")
