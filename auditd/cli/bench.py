"""``auditd bench``: every speed and memory figure of auditd at the sizes given, with how each grows.

The benchmarks live in the source checkout (``benchmarks/run.py``): they generate cities with the
product's own generator and measure ingest, the policy engine, the detectors, the anomaly model, the
annual report, the queries an officer asks and every dashboard page. This command runs that script
with the same Python, passing every option through (``auditd bench --help`` shows them).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

import auditd
from auditd.errors import NotFound

SCRIPT = Path(auditd.__file__).resolve().parent.parent / "benchmarks" / "run.py"


def register(app: typer.Typer) -> None:
    """Adds ``auditd bench`` (its options are the script's: ``--help`` is passed through too)."""
    app.command(
        "bench",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )(bench)


def bench(ctx: typer.Context) -> None:
    """Measure ingest, decisions, detection, reports, queries and pages on generated cities (--help: options)."""
    if not SCRIPT.is_file():
        raise NotFound(
            f"the benchmarks are not installed: {SCRIPT} does not exist",
            hint="run auditd bench from a source checkout of auditd (git clone), where benchmarks/ is",
        )
    # the script of this checkout, run by this Python, with the operator's own arguments
    raise typer.Exit(subprocess.call([sys.executable, str(SCRIPT), *ctx.args]))  # noqa: S603
