"""Typed dependencies shared by every route (STYLE.md §2).

``DbSession`` is one unit of work per request: committed when the route returns, rolled back when it
raises. ``CurrentUser`` / ``require(...)`` authorise in one place; routes never check roles themselves.

Who is asking is decided here, once per request (:func:`optional_principal`):

- a person, through the dashboard's session cookie (signed, ``HttpOnly``, ``SameSite=Strict``,
  ``Secure`` behind https). The session ends after ``AUDITD_SESSION_IDLE_MINUTES`` unused, after
  ``AUDITD_SESSION_ABSOLUTE_HOURS`` in any case, and at once when the person logs out or changes the
  password anywhere (the user's session epoch moves on);
- a program, through ``Authorization: Bearer aut_…`` (an API token, :mod:`auditd.auth.tokens`), on
  ``/api/…`` routes only. A token on a dashboard page is refused: tokens never belong in a browser.

A login waiting for its second factor is not a principal: nothing but the second-factor step sees it.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Form, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from auditd.api.ratelimit import LimitsDep, TooManyRequests, refusal_message
from auditd.auth import tokens
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.auth.service import PendingFactor, session_principal
from auditd.auth.settings import SecuritySettings
from auditd.errors import AuthenticationRequired, Forbidden
from auditd.privacy.vault import Vault
from auditd.settings import Settings
from auditd.store.db import session_scope
from auditd.trail.service import record

SESSION_USER_KEY = "uid"
SESSION_EPOCH_KEY = "epoch"
SESSION_SINCE_KEY = "since"  # login instant (Unix seconds): the absolute timeout counts from here
SESSION_SEEN_KEY = "seen"  # last request (Unix seconds): the idle timeout counts from here
PENDING_KEY = "pending"  # a login whose password was right and whose second factor is due
CSRF_KEY = "csrf"


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_security(request: Request) -> SecuritySettings:
    security: SecuritySettings = request.app.state.security
    return security


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_db(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.session_factory) as session:
        yield session


def get_vault(request: Request) -> Vault:
    """The vault that seals TOTP secrets (the ``encryption_key``), made once per application."""
    vault: Vault | None = getattr(request.app.state, "vault", None)
    if vault is None:
        vault = Vault(get_app_settings(request).secret("encryption_key"))
        request.app.state.vault = vault
    return vault


def client_address(request: Request) -> str | None:
    """The client's address as the server sees it (behind a proxy: what uvicorn's
    ``--forwarded-allow-ips`` lets it trust)."""
    return request.client.host if request.client else None


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SecurityDep = Annotated[SecuritySettings, Depends(get_security)]
EngineDep = Annotated[Engine, Depends(get_engine)]
#: The request's session, committed (or rolled back) when the route returns and BEFORE the answer is sent
#: ("function" scope): a client told 200 or sent on by a 303 reads what the route wrote, and a commit
#: that fails is a 500, not a success already answered.
DbSession = Annotated[Session, Depends(get_db, scope="function")]
VaultDep = Annotated[Vault, Depends(get_vault)]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="API token",
    description="An API token (aut_…) from `auditd token create`; on /api/… routes only.",
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


# -- sessions -----------------------------------------------------------------------------------------


def begin_session(request: Request, principal: Principal, epoch: int) -> None:
    """Open a logged-in session. Everything the browser held before is dropped (a new CSRF token is
    made on the next page), so a session planted before the login is worth nothing after it."""
    now = int(time.time())
    request.session.clear()
    request.session.update(
        {SESSION_USER_KEY: principal.user_id, SESSION_EPOCH_KEY: epoch, SESSION_SINCE_KEY: now, SESSION_SEEN_KEY: now}
    )


@dataclass(frozen=True)
class PendingLogin:
    """A login between its password and its second factor, as carried by the session cookie."""

    user_id: int
    username: str
    since: int
    next: str
    enrol: bool
    offered_secret: str | None = None  # base64 of the sealed secret offered for enrolment


def begin_pending(request: Request, pending: PendingFactor, next_url: str) -> None:
    request.session.clear()
    request.session[PENDING_KEY] = {
        "uid": pending.user_id,
        "username": pending.username,
        "since": int(time.time()),
        "next": next_url,
        "enrol": pending.enrol,
    }


def pending_login(request: Request, security: SecuritySettings) -> PendingLogin | None:
    """The login waiting for its second factor, or None (none, malformed, or older than
    ``AUDITD_LOGIN_PENDING_SECONDS``: then it is dropped and the person starts again)."""
    raw = request.session.get(PENDING_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        pending = PendingLogin(
            user_id=int(raw["uid"]),
            username=str(raw["username"]),
            since=int(raw["since"]),
            next=str(raw["next"]),
            enrol=bool(raw["enrol"]),
            offered_secret=raw.get("offered"),
        )
    except (KeyError, TypeError, ValueError):
        request.session.clear()
        return None
    if time.time() - pending.since > security.login_pending_seconds:
        request.session.clear()
        return None
    return pending


def offer_secret(request: Request, sealed: bytes) -> None:
    """Keep the secret offered for enrolment in the session, sealed (the cookie is signed, not secret)."""
    raw = request.session.get(PENDING_KEY)
    if isinstance(raw, dict):
        request.session[PENDING_KEY] = {**raw, "offered": base64.b64encode(sealed).decode("ascii")}


def end_session(request: Request) -> None:
    request.session.clear()


def request_principal(request: Request, db: Session, security: SecuritySettings) -> Principal | None:
    """The person whose session cookie ``request`` carries, or None (no session, idle or too old: then
    cleared, or its user disabled or logged out everywhere). Touches the idle clock."""
    session: dict[str, Any] = request.session
    user_id, epoch = session.get(SESSION_USER_KEY), session.get(SESSION_EPOCH_KEY)
    since, seen = session.get(SESSION_SINCE_KEY), session.get(SESSION_SEEN_KEY)
    if not isinstance(user_id, int):
        return None
    now = int(time.time())
    if (
        not isinstance(epoch, int)
        or not isinstance(since, int)
        or not isinstance(seen, int)
        or now - since > security.session_absolute_hours * 3600
        or now - seen > security.session_idle_minutes * 60
    ):
        session.clear()
        return None
    principal = session_principal(db, user_id, epoch)
    if principal is None:
        session.clear()
        return None
    session[SESSION_SEEN_KEY] = now
    return principal


def _token_principal(
    request: Request,
    token: str,
    engine: Engine,
    settings: Settings,
    limits: LimitsDep,
) -> Principal:
    if not request.url.path.startswith("/api/"):
        refuse_tokens(request)
    client = client_address(request)
    recent = limits.token_refused_recently(client)
    if not recent.allowed:
        raise TooManyRequests(refusal_message(recent, "en"), recent.retry_after)
    # Its own short transaction, not the request's: the refusal must be recorded even though the
    # request then fails, and ``last_used_at`` is written before the route reads anything.
    with engine.begin() as connection:
        check = tokens.authenticate_token(
            connection, token, default_municipality=settings.municipality_code, client=client
        )
        if check.principal is None:
            verdict = limits.token_refused(client)
            if not verdict.allowed and verdict.first_refusal:
                record(
                    connection,
                    settings.municipality_code,
                    "token:?",
                    "token_rate_limited",
                    "client",
                    client,
                    {"retry_after": verdict.retry_after},
                    client,
                )
    if check.principal is None:
        raise AuthenticationRequired(
            "the API token is not valid (unknown, expired or revoked)",
            hint="`auditd token list` shows the tokens and their state; `auditd token create` issues one",
        )
    request.state.token_expires_at = check.expires_at
    return check.principal


def refuse_tokens(request: Request) -> None:
    """Refuse a bearer token on a dashboard page, even one that needs no login (the login form itself):
    a token belongs to a program calling ``/api/…``, never to a browser."""
    scheme, _, _ = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        raise Forbidden(
            "API tokens are accepted on /api/… routes only / トークンはAPIでのみ使えます",
            hint="log in to the dashboard with a browser; send tokens to /api/v1/… from programs",
        )


BrowserOnly = Depends(refuse_tokens)


def optional_principal(
    request: Request,
    db: DbSession,
    engine: EngineDep,
    settings: SettingsDep,
    security: SecurityDep,
    limits: LimitsDep,
    credentials: BearerCredentials,
) -> Principal | None:
    """The person (session) or program (bearer token) asking, or None when nobody is logged in."""
    if credentials is not None:
        return _token_principal(request, credentials.credentials, engine, settings, limits)
    return request_principal(request, db, security)


OptionalUser = Annotated[Principal | None, Depends(optional_principal)]


def require(*roles: PlatformRole, scopes: Sequence[str] | None = None) -> Callable[[Principal | None], Principal]:
    """A dependency that admits an authenticated principal with one of ``roles`` (any role if none).

    ``scopes`` opens the route to API tokens: a token is admitted only if it holds every scope named
    (``scopes=()``: any token of an admitted role). Without ``scopes`` the route is for people's
    sessions only and every token is refused, so no route is reachable by a token unless its author
    decided it should be. A person's session is never limited by scopes: the role decides.
    """
    needed = None if scopes is None else tokens.check_scopes_declared(scopes)

    def dependency(principal: OptionalUser) -> Principal:
        if principal is None:
            raise AuthenticationRequired("ログインしてください / please log in")
        if roles and principal.role not in roles:
            raise Forbidden(
                f"この操作は {', '.join(r.label_ja for r in roles)} のみ可能です / not allowed for your role"
            )
        if principal.scopes is not None:
            if needed is None:
                raise Forbidden(
                    "this route does not accept API tokens / この操作はトークンでは行えません",
                    hint="use the dashboard with your own login",
                )
            missing = sorted(needed - principal.scopes)
            if missing:
                raise Forbidden(
                    f"the token lacks the scope(s) {', '.join(missing)} / トークンの権限が足りません",
                    hint="issue a token with those scopes: auditd token create NAME --scopes " + ",".join(missing),
                )
        return principal

    return dependency


CurrentUser = Annotated[Principal, Depends(require())]


# -- CSRF ---------------------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use); forms carry it in a hidden field."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


def verify_csrf(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    """Refuse a form post that does not carry the session's CSRF token (403). Every state-changing
    dashboard form depends on this; the cookie being ``SameSite=Strict`` is the second line."""
    expected = request.session.get(CSRF_KEY)
    # compared as bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 403)
    if not isinstance(expected, str) or not secrets.compare_digest(expected.encode(), csrf.encode()):
        raise Forbidden("フォームの有効期限が切れました。ページを再読み込みしてください / invalid CSRF token")


CsrfChecked = Depends(verify_csrf)


# -- parameters and documented answers shared by the routers ------------------------------------------

#: A stored record's number in a path: positive and within the 32-bit integer columns.
RecordId = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: How many rows a list answers with.
Limit = Annotated[int, Query(ge=1, le=10_000)]
#: An account or user name as a query filter (no control characters).
NameFilter = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]


def documented(descriptions: Mapping[int, str], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route for OpenAPI: each status it may answer with, described."""
    return {status: {"description": descriptions[status]} for status in statuses}
