"""API tokens: bearer credentials of other systems (role ``api``) and of people's scripts.

A token is ``aut_`` and 32 random bytes (URL-safe base64). It is shown once, when it is made; the
store keeps its SHA-256 only. A plain hash suffices (no salt, no stretching): 256 random bits leave
no dictionary to try, so a copy of the database gives nothing usable.

A token carries **scopes** (``events:read`` …) and an **expiry**, and can be **revoked**. A route
admits a token only if it names the scopes it needs (``require(..., scopes=(...))``) and the token
holds them all; a route that names none is for people's sessions only. A person's token acts as
that person (their current role, section and municipality), narrowed to its scopes; it stops
working when the person is disabled. Log-source push tokens (``adt_…``) are another mechanism, in
:mod:`collectors.push`.

Services never commit: the caller's unit of work does.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection

from auditd.auth import repository
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.errors import Conflict, NotFound, ValidationFailed
from auditd.trail.service import record

#: Tokens start with this, so secret scanners (and people) recognise a leaked one.
TOKEN_PREFIX = "aut_"  # noqa: S105 - a public prefix, not a secret
TOKEN_BYTES = 32
TOKEN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Tokens always expire; a year is the longest a credential of another system lives unreviewed.
MAX_LIFETIME = timedelta(days=366)
DEFAULT_LIFETIME = "90d"
#: ``last_used_at`` is written at most this often per token.
TOUCH_EVERY = timedelta(minutes=1)

#: Every scope a token can carry, and what it opens. Routes name scopes from here (checked when the
#: route is declared), so a typo is an error at start-up, not a route no token can reach.
SCOPES: dict[str, str] = {
    "events:read": "read operation events, ingest runs, log sources and the quarantine",
    "reference:write": "import reference feeds (staff, grants, terminals …)",
    "rights:read": "read access rights and their requests",
    "rights:write": "request, approve, issue and revoke access rights",
    "alerts:read": "read alerts and cases",
    "alerts:write": "comment on cases (dispositions are given by a person, never a token)",
    "reports:read": "read and download reports",
    "reports:write": "make the annual and monthly reports (a disclosure report is made by a person)",
    "trail:read": "read the platform's audit trail",
}


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def _fingerprint(token: str) -> str:
    """A short, non-reversible mark of a presented token, so repeated attempts with the same wrong
    token can be told apart in the trail without the trail holding anything usable."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:12]


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes, validated against :data:`SCOPES`."""
    chosen = frozenset(s.strip() for s in scopes if s.strip())
    unknown = sorted(chosen - SCOPES.keys())
    if unknown:
        raise ValidationFailed(
            f"unknown scope(s): {', '.join(unknown)}",
            hint="scopes: " + ", ".join(f"{name} ({what})" for name, what in SCOPES.items()),
        )
    return chosen


def check_scopes_declared(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes a route declares; an unknown one is a programming error, raised when the route is made."""
    chosen = frozenset(scopes)
    unknown = sorted(chosen - SCOPES.keys())
    if unknown:
        raise ValueError(f"unknown scope(s) {unknown}: add them to auditd.auth.tokens.SCOPES first")
    return chosen


def parse_expiry(text: str, now: datetime) -> datetime:
    """When a token made ``now`` expires: ``90d``, ``12h``, ``4w`` from now, or a date (end of that day, UTC)."""
    value = text.strip().lower()
    match = re.fullmatch(r"(\d{1,4})([hdw])", value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {"h": timedelta(hours=amount), "d": timedelta(days=amount), "w": timedelta(weeks=amount)}[unit]
        expires = now + delta
    else:
        try:
            day = date.fromisoformat(value)
        except ValueError as exc:
            raise ValidationFailed(
                f"--expires {text!r} is neither a duration nor a date", hint="e.g. 90d, 12h, 4w or 2027-03-31"
            ) from exc
        expires = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    if expires <= now:
        raise ValidationFailed(f"--expires {text!r} is not in the future")
    if expires - now > MAX_LIFETIME:
        raise ValidationFailed(
            f"--expires {text!r} is more than {MAX_LIFETIME.days} days away",
            hint="tokens must be renewed at least once a year: issue a new one before this one expires",
        )
    return expires


@dataclass(frozen=True)
class IssuedToken:
    """A token just made: shown once to the operator, never stored or shown again."""

    name: str
    token: str
    expires_at: datetime
    scopes: frozenset[str]


def create_token(
    connection: Connection,
    municipality_code: str,
    name: str,
    *,
    scopes: Iterable[str],
    expires: str = DEFAULT_LIFETIME,
    owner: str | None = None,
    actor: str,
    now: datetime | None = None,
) -> IssuedToken:
    """Make a token named ``name``: a system's (role ``api``) without ``owner``, else ``owner``'s own."""
    now = now or datetime.now(UTC)
    if not TOKEN_NAME.fullmatch(name):
        raise ValidationFailed(
            f"{name!r} cannot be a token name",
            hint="use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. jinji-system)",
        )
    chosen = check_scopes(scopes)
    expires_at = parse_expiry(expires, now)
    if repository.token_by_name(connection, municipality_code, name) is not None:
        raise Conflict(
            f"a token named {name!r} already exists",
            hint="choose another name, or `auditd token revoke` the old one first (names stay taken)",
        )
    role = PlatformRole.API
    user_id: int | None = None
    if owner is not None:
        user = repository.user_row_by_name(connection, municipality_code, owner)
        if user is None or user["disabled"]:
            raise NotFound(f"no active platform user named {owner!r}", hint="`auditd user list` shows them")
        role = PlatformRole(user["role"])
        user_id = int(user["id"])
    issued = IssuedToken(name, new_token(), expires_at, chosen)
    repository.add_token(
        connection,
        municipality_code=municipality_code,
        name=name,
        token_hash=token_hash(issued.token),
        role=role.value,
        user_id=user_id,
        scopes=" ".join(sorted(chosen)),
        created_at=now,
        created_by=actor[:64],
        expires_at=expires_at,
    )
    record(
        connection,
        municipality_code,
        actor,
        "token_created",
        "api_token",
        name,
        {"role": role.value, "owner": owner, "scopes": sorted(chosen), "expires_at": expires_at.isoformat()},
    )
    return issued


def revoke_token(connection: Connection, municipality_code: str, name: str, *, actor: str) -> bool:
    """Revoke a token at once. False if it was revoked already (nothing changes, nothing is recorded)."""
    token = repository.token_by_name(connection, municipality_code, name)
    if token is None:
        raise NotFound(f"no token named {name!r}", hint="`auditd token list` shows the tokens")
    if token["revoked_at"] is not None:
        return False
    repository.revoke_token(connection, token["id"], datetime.now(UTC), actor[:64])
    record(connection, municipality_code, actor, "token_revoked", "api_token", name, None)
    return True


@dataclass(frozen=True)
class TokenRow:
    """A token as listed for people: never the token itself."""

    name: str
    role: str
    owner: str | None
    scopes: list[str]
    created_at: datetime
    created_by: str
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= now else "active"


def list_tokens(connection: Connection, municipality_code: str) -> list[TokenRow]:
    return [
        TokenRow(
            name=row["name"],
            role=row["role"],
            owner=row["owner"],
            scopes=row["scopes"].split(),
            created_at=row["created_at"],
            created_by=row["created_by"],
            expires_at=row["expires_at"],
            last_used_at=row["last_used_at"],
            revoked_at=row["revoked_at"],
        )
        for row in repository.list_tokens(connection, municipality_code)
    ]


@dataclass(frozen=True)
class TokenCheck:
    """The result of presenting a bearer token. A refusal is an outcome, not an exception, so that
    its trail entry commits with the caller's unit of work before the caller answers 401."""

    principal: Principal | None
    reason: str | None = None
    expires_at: datetime | None = None


def authenticate_token(
    connection: Connection,
    token: str,
    *,
    default_municipality: str,
    client: str | None = None,
    now: datetime | None = None,
) -> TokenCheck:
    """The principal ``token`` stands for, or a refusal recorded in the trail (``token_refused``).

    The trail entry goes to the token's municipality when the token is known (expired, revoked,
    owner disabled), else to ``default_municipality``; it names the token when known, else a short
    fingerprint of what was presented.
    """
    now = now or datetime.now(UTC)
    row = repository.token_by_hash(connection, token_hash(token)) if token.startswith(TOKEN_PREFIX) else None
    reason: str | None = None
    owner: dict[str, Any] | None = None
    if row is None:
        reason = "unknown" if token.startswith(TOKEN_PREFIX) else "not_an_api_token"
    elif row["revoked_at"] is not None:
        reason = "revoked"
    elif row["expires_at"] <= now:
        reason = "expired"
    elif row["user_id"] is not None:
        owner = repository.user_row(connection, row["user_id"])
        if owner is None or owner["disabled"]:
            reason = "owner_disabled"
    if reason is not None:
        record(
            connection,
            row["municipality_code"] if row else default_municipality,
            f"token:{row['name']}" if row else "token:?",
            "token_refused",
            "api_token",
            row["name"] if row else None,
            {"reason": reason} if row else {"reason": reason, "fingerprint": _fingerprint(token)},
            client,
        )
        return TokenCheck(None, reason)
    assert row is not None
    repository.touch_token(connection, row["id"], now, now - TOUCH_EVERY)
    scopes = frozenset(row["scopes"].split())
    if owner is not None:
        principal = Principal(
            user_id=int(owner["id"]),
            username=owner["username"],
            display_name=owner["display_name"],
            role=PlatformRole(owner["role"]),
            municipality_code=owner["municipality_code"],
            section_code=owner["section_code"],
            scopes=scopes,
            token_name=row["name"],
        )
    else:
        principal = Principal(
            user_id=None,
            username=f"api:{row['name']}",
            display_name=row["name"],
            role=PlatformRole(row["role"]),
            municipality_code=row["municipality_code"],
            scopes=scopes,
            token_name=row["name"],
        )
    return TokenCheck(principal, None, row["expires_at"])
