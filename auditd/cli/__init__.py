"""The ``auditd`` command: the operator's surface. One command per thing a person does."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from auditd import __version__, registry
from auditd.cli import bench as bench_commands
from auditd.cli import db as db_commands
from auditd.cli import demo as demo_commands
from auditd.cli import integrity as integrity_commands
from auditd.cli import scheduler as scheduler_commands
from auditd.cli import serve as serve_commands
from auditd.cli import users as user_commands
from auditd.errors import AuditdError

err = Console(stderr=True)

app = typer.Typer(
    name="auditd",
    help="個人番号アクセス監査 — who looked at which resident's data, and was it allowed.\n\n"
    "Access audit for My Number handling in Japanese municipalities. Start with `auditd demo`.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
app.add_typer(db_commands.app, name="db")
app.add_typer(user_commands.app, name="user")
serve_commands.register(app)
demo_commands.register(app)
integrity_commands.register(app)
scheduler_commands.register(app)
bench_commands.register(app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Settings come from AUDITD_* environment variables (see `docs/configuration.md`)."""


for _register in registry.load_all("cli").values():
    _register(app)


def main() -> None:
    try:
        app()
    except AuditdError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err.print(f"  → {exc.hint}", highlight=False)
        sys.exit(2 if exc.status < 500 else 1)
