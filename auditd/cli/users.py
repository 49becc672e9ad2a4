"""``auditd user``: the platform's own users (officers, auditors, section heads, administrators)."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from auditd.auth import repository
from auditd.auth.models import PlatformRole
from auditd.auth.service import create_user
from auditd.cli.common import console, migrated_engine, settings
from auditd.store.db import make_session_factory, session_scope
from auditd.trail.service import cli_actor

app = typer.Typer(help="Manage the people who use auditd itself.", no_args_is_help=True)


@app.command("add")
def add(
    username: str = typer.Argument(..., help="Login name."),
    role: PlatformRole = typer.Option(..., help="officer, auditor, section_head, admin or api."),
    name: str = typer.Option(None, help="Name shown in the dashboard."),
    section: str = typer.Option(None, help="Section code (required for a section head)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Add a platform user. The password is asked for (or read with --password-stdin)."""
    current = settings()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    factory = make_session_factory(migrated_engine(current))
    with session_scope(factory) as session:
        create_user(
            session,
            current.municipality_code,
            username,
            password,
            role,
            display_name=name,
            section_code=section,
            actor=cli_actor(),
        )
    console.print(f"added {role.value} [bold]{username}[/]")


@app.command("list")
def list_users() -> None:
    """List the platform users of the municipality."""
    current = settings()
    factory = make_session_factory(migrated_engine(current))
    table = Table("username", "name", "role", "section", "last login")
    with session_scope(factory) as session:
        for user in repository.list_users(session, current.municipality_code):
            table.add_row(
                user.username,
                user.display_name,
                user.role,
                user.section_code or "",
                str(user.last_login_at or ""),
            )
    console.print(table)
