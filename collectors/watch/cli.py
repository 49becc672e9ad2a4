"""``auditd watch``: ingest what municipal systems drop into a shared folder, as it arrives."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import typer

from auditd.errors import ValidationFailed
from collectors.watch.config import WatchConfig, folder_config, load_watch_config

#: The watcher's logger (``collectors.watch.service.log``), named here so that loading the command for
#: ``auditd --help`` does not import the ingest pipeline.
watch_log = logging.getLogger("collectors.watch")

EXAMPLE = "auditd watch /srv/drop/zeimu --profile demo-tax --pattern 'ZEIMU_OPLOG_*.csv'"


#: The help as paragraphs of one line each: the terminal wraps them (a docstring's line breaks would stay).
HELP = (
    "Watch a drop folder and ingest the files that appear or grow there, until stopped (Ctrl+C).\n\n"
    "Each file is read with its profile, as `auditd ingest` does: complete lines as soon as they are there, the "
    "last line once the file has stopped changing. A file seen before is continued where it stopped, also after a "
    "restart or a crash, so nothing is stored twice or missed.\n\n"
    "One line is printed per file ingested, and a 'still watching' line every few minutes. A problem with one file "
    "is printed and that file is tried again later; the others go on.\n\n"
    f"Examples:  {EXAMPLE}   |   auditd watch --config watch.yaml --once"
)


def register(app: typer.Typer) -> None:
    app.command("watch", help=HELP)(watch)


def watch(
    directory: Path | None = typer.Argument(
        None, metavar="DIR", show_default=False, help="The folder to watch (or give --config instead)."
    ),
    profile: str | None = typer.Option(
        None, "--profile", "-p", help="How the files in DIR are read: a built-in profile name or a YAML profile's path."
    ),
    pattern: str | None = typer.Option(
        None,
        "--pattern",
        show_default=False,
        help="Which files in DIR: a file-name pattern such as 'ZEIMU_OPLOG_*.csv' (quote it). Default: every file.",
    ),
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="A YAML file listing folders, patterns and profiles, instead of DIR (see docs/collectors.md).",
    ),
    once: bool = typer.Option(False, "--once", help="Look once, ingest what is there, and exit (for cron or a task)."),
    interval: float | None = typer.Option(
        None, "--interval", show_default=False, help="Seconds between two looks at the folders (default 5)."
    ),
    settle: float | None = typer.Option(
        None,
        "--settle",
        show_default=False,
        help="Seconds a file must stay unchanged to count as finished; only then is a last line without a "
        "line break read (default 10).",
    ),
    recursive: bool = typer.Option(False, "--recursive", help="Look into the subfolders of DIR too."),
    archive_dir: Path | None = typer.Option(
        None, "--archive-dir", help="Move finished, completely ingested files of DIR to this folder (never deleted)."
    ),
) -> None:
    """The command (its help is :data:`HELP`): validate everything first, then watch until a signal.

    The configuration and the store are checked before the first look, so a typo is an error at
    once rather than a loop that logs the same failure every few seconds.
    """
    # Imported here: ``auditd.cli`` loads this module while it starts, so importing it at the top
    # would be circular for anyone importing this module first (a test, another tool).
    from auditd.cli.common import migrated_engine, settings
    from collectors.watch.service import Watcher

    chosen = _config(directory, profile, pattern, config, recursive, archive_dir, interval, settle)
    current = settings()
    engine = migrated_engine(current)
    _show_log_lines()
    watcher = Watcher(engine, current, chosen)
    stop = threading.Event()
    try:
        with _stop_on_signals(stop):
            if once:
                result = watcher.run_once(stop)
                stats = watcher.stats
                watch_log.info(
                    "looked once at %d file(s): %s record(s) read, %s accepted, %d problem(s)%s",
                    len(result.files) + result.unchanged,
                    f"{stats.read:,}",
                    f"{stats.accepted:,}",
                    len(result.failed) + len(result.problems),
                    " (stopped before the end)" if result.stopped else "",
                )
                if not result.ok:
                    raise typer.Exit(1)
                return
            watcher.run_forever(stop)
    except KeyboardInterrupt:
        watch_log.info("stopped at once; the next run continues from the last stored chunk")
        raise typer.Exit(130) from None
    finally:
        engine.dispose()


def _config(
    directory: Path | None,
    profile: str | None,
    pattern: str | None,
    config: Path | None,
    recursive: bool,
    archive_dir: Path | None,
    interval: float | None,
    settle: float | None,
) -> WatchConfig:
    """The configuration from the command line: a folder with its options, or a file (not both)."""
    if config is not None:
        if directory is not None:
            raise ValidationFailed(
                "give either a folder (DIR --profile P) or --config FILE, not both",
                hint="with --config, every folder is a rule in the file",
            )
        given = [
            name
            for name, value in (("--profile", profile), ("--pattern", pattern), ("--archive-dir", archive_dir))
            if value is not None
        ] + (["--recursive"] if recursive else [])
        if given:
            raise ValidationFailed(
                f"{', '.join(given)}: only with DIR; with --config, each rule in the file says it",
                hint="set profile, pattern, recursive and archive_dir in the file (--interval and --settle are fine)",
            )
        return load_watch_config(config).with_overrides(interval_seconds=interval, settle_seconds=settle)
    if directory is None:
        raise ValidationFailed(
            "nothing to watch: give a folder and a profile, or a configuration file",
            hint=f"for example: {EXAMPLE}   or: auditd watch --config watch.yaml",
        )
    if profile is None:
        raise ValidationFailed(
            f"which profile reads the files in {directory}? give --profile",
            hint="`auditd profile list` shows the built-in profiles; a YAML profile's path works too",
        )
    return folder_config(
        directory,
        profile,
        pattern="*" if pattern is None else pattern,
        recursive=recursive,
        archive_dir=archive_dir,
        interval_seconds=interval,
        settle_seconds=settle,
    )


class _LineFormatter(logging.Formatter):
    """``2026-02-03 09:15:22 message``; warnings and errors say so (``… error: message``)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (the logging API's name)
        if record.levelno >= logging.WARNING:
            return f"{self.formatTime(record, self.datefmt)} {record.levelname.lower()}: {record.getMessage()}"
        return super().formatMessage(record)


def _show_log_lines() -> None:
    """The watcher's lines: progress on stdout, warnings and errors on stderr, each flushed at once."""
    logger = watch_log
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(lambda record: record.levelno < logging.WARNING)
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.WARNING)
    for handler in (out, err):
        handler.setFormatter(_LineFormatter())
        logger.addHandler(handler)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM stop the watcher after the current file; a second one stops it at once.

    Stopping at once is safe too (the chunk being stored rolls back and is read again next time), but
    the first signal lets the current file finish, so a service manager's stop is always clean.
    """

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        watch_log.info("stopping after the current file (%s; once more to stop at once)", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
