"""``auditd user`` and ``auditd token``: the platform's own users, their passwords and second factors,
and the API tokens of other systems and of people's scripts."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import typer
from rich.table import Table

from auditd.auth import repository, tokens
from auditd.auth.models import PlatformRole
from auditd.auth.service import create_user, enrol_totp, set_password
from auditd.auth.settings import SecuritySettings
from auditd.auth.totp import grouped, provisioning_uri
from auditd.cli.common import console, migrated_engine, settings
from auditd.errors import ValidationFailed
from auditd.privacy.vault import Vault
from auditd.store.db import make_session_factory, session_scope
from auditd.trail.service import cli_actor

app = typer.Typer(help="Manage the people who use auditd itself.", no_args_is_help=True)
token_app = typer.Typer(
    help="API tokens (aut_…) for other systems and for people's scripts: create, list, revoke.",
    no_args_is_help=True,
)


def register(root: typer.Typer) -> None:
    """Entry point (``auditd.cli``): adds ``auditd token``."""
    root.add_typer(token_app, name="token")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return password


def _when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(settings().tz).strftime("%Y-%m-%d %H:%M")


@app.command("add")
def add(
    username: str = typer.Argument(..., help="Login name."),
    role: PlatformRole = typer.Option(..., help="officer, auditor, section_head, admin or api."),
    name: str = typer.Option(None, help="Name shown in the dashboard."),
    section: str = typer.Option(None, help="Section code (required for a section head)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Add a platform user. The password is asked for (or read with --password-stdin).

    Officers and administrators also need a second factor: `auditd user totp USERNAME`, or they set
    it up at their first login."""
    current = settings()
    password = _read_password(password_stdin)
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
    """List the platform users of the municipality: role, second factor, lockout, last login."""
    current = settings()
    factory = make_session_factory(migrated_engine(current))
    now = datetime.now(UTC)
    table = Table("username", "name", "role", "section", "2FA", "locked", "last login")
    with session_scope(factory) as session:
        for user in repository.list_users(session, current.municipality_code):
            locked = user.locked_until is not None and user.locked_until > now
            table.add_row(
                user.username,
                user.display_name,
                user.role + (" (disabled)" if user.disabled else ""),
                user.section_code or "",
                "totp" if user.totp_sealed is not None else "—",
                f"until {_when(user.locked_until)}" if locked else "",
                _when(user.last_login_at),
            )
    console.print(table)


@app.command("password")
def password(
    username: str = typer.Argument(..., help="The user whose password is set."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
) -> None:
    """Set a user's password (asked twice, or read with --password-stdin). Their sessions end, a
    lockout is lifted, and the change is recorded in the trail under your name."""
    current = settings()
    new = _read_password(password_stdin)
    factory = make_session_factory(migrated_engine(current))
    with session_scope(factory) as session:
        set_password(session, current.municipality_code, username, new, actor=cli_actor())
    console.print(f"password of [bold]{username}[/] changed; their sessions have ended")


@app.command("totp")
def totp(
    username: str = typer.Argument(..., help="The user who gets a second factor."),
    reset: bool = typer.Option(False, "--reset", help="Replace an existing second factor (a lost phone)."),
) -> None:
    """Enrol a TOTP second factor and print its secret and otpauth URI, once. The secret is stored
    sealed (AES-256-GCM with the encryption key) and cannot be shown again: hand it to the person
    directly, who enters it in an authenticator app."""
    current = settings()
    vault = Vault(current.secret("encryption_key"))
    factory = make_session_factory(migrated_engine(current))
    with session_scope(factory) as session:
        secret = enrol_totp(session, vault, current.municipality_code, username, reset=reset, actor=cli_actor())
    uri = provisioning_uri(secret, f"{username}@{current.municipality_code}", SecuritySettings().totp_issuer)
    console.print(
        f"TOTP second factor of [bold]{username}[/] (shown only now; time-based, 30 s, 6 digits, SHA-1). Secret:"
    )
    typer.echo(secret)
    console.print(f"  ({grouped(secret)})  otpauth URI, for apps that take one:", highlight=False)
    typer.echo(uri)


# -- tokens -----------------------------------------------------------------------------------------------


def _scopes(values: list[str]) -> list[str]:
    return [part for value in values for part in value.replace(",", " ").split()]


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., help="Token name: the system or script it is for (e.g. jinji-system)."),
    role: PlatformRole = typer.Option(
        None, "--role", help="api: a token of another system (the default when --user is not given)."
    ),
    user: str = typer.Option(
        None, "--user", help="A person's own token: it acts as this user, narrowed to its scopes."
    ),
    scopes: list[str] = typer.Option(
        [], "--scopes", "-s", help="Scopes, comma-separated or repeated: " + ", ".join(tokens.SCOPES) + "."
    ),
    expires: str = typer.Option(
        tokens.DEFAULT_LIFETIME, "--expires", help="Lifetime (90d, 12h, 4w) or last day (2027-03-31); at most 366 days."
    ),
) -> None:
    """Create an API token and print it (once). Programs send it as `Authorization: Bearer aut_…` to
    /api/v1/… routes; a route admits it only with the scopes it names."""
    if user is None and role not in (None, PlatformRole.API):
        raise ValidationFailed(
            f"a token of role {role.value} must belong to a person", hint=f"add --user USERNAME (a {role.value})"
        )
    if user is not None and role is not None:
        raise ValidationFailed("--role and --user exclude each other: a person's token has the person's role")
    current = settings()
    engine = migrated_engine(current)
    with engine.begin() as connection:
        issued = tokens.create_token(
            connection,
            current.municipality_code,
            name,
            scopes=_scopes(scopes),
            expires=expires,
            owner=user,
            actor=cli_actor(),
        )
    whose = f"of [bold]{user}[/]" if user else "of role [bold]api[/]"
    console.print(
        f"token [bold]{name}[/] {whose}, scopes {', '.join(sorted(issued.scopes)) or '(none)'}, "
        f"expires {_when(issued.expires_at)} (shown only now):"
    )
    typer.echo(issued.token)


@token_app.command("list")
def token_list() -> None:
    """List the tokens (never the tokens themselves): owner, scopes, expiry, last use, state."""
    current = settings()
    engine = migrated_engine(current)
    now = datetime.now(UTC)
    with engine.connect() as connection:
        rows = tokens.list_tokens(connection, current.municipality_code)
    table = Table("name", "role", "owner", "scopes", "expires", "last used", "state")
    for row in rows:
        table.add_row(
            row.name,
            row.role,
            row.owner or "",
            " ".join(row.scopes),
            _when(row.expires_at),
            _when(row.last_used_at),
            row.state(now),
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(name: str = typer.Argument(..., help="The token to revoke.")) -> None:
    """Revoke a token: it stops working at once (recorded in the trail)."""
    current = settings()
    engine = migrated_engine(current)
    with engine.begin() as connection:
        changed = tokens.revoke_token(connection, current.municipality_code, name, actor=cli_actor())
    console.print(f"token [bold]{name}[/] " + ("revoked" if changed else "was revoked already"))
