"""Typed dependencies shared by every route (STYLE.md §2).

``DbSession`` is one unit of work per request: committed when the route returns, rolled back when it
raises. ``CurrentUser`` / ``require(...)`` authorise in one place; routes never check roles themselves.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Form, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.auth.service import load_principal
from auditd.errors import AuthenticationRequired, Forbidden
from auditd.settings import Settings
from auditd.store.db import session_scope

SESSION_USER_KEY = "uid"
CSRF_KEY = "csrf"


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_db(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.session_factory) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
DbSession = Annotated[Session, Depends(get_db)]


def optional_principal(request: Request, db: DbSession) -> Principal | None:
    user_id = request.session.get(SESSION_USER_KEY)
    if not isinstance(user_id, int):
        return None
    principal = load_principal(db, user_id)
    if principal is None:
        request.session.clear()
    return principal


OptionalUser = Annotated[Principal | None, Depends(optional_principal)]


def require(*roles: PlatformRole) -> Callable[[Principal | None], Principal]:
    """A dependency that admits an authenticated principal with one of ``roles`` (any role if none)."""

    def dependency(principal: OptionalUser) -> Principal:
        if principal is None:
            raise AuthenticationRequired("ログインしてください / please log in")
        if roles and principal.role not in roles:
            raise Forbidden(
                f"この操作は {', '.join(r.label_ja for r in roles)} のみ可能です / not allowed for your role"
            )
        return principal

    return dependency


CurrentUser = Annotated[Principal, Depends(require())]


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use); forms carry it in a hidden field."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


def verify_csrf(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    expected = request.session.get(CSRF_KEY)
    if not isinstance(expected, str) or not secrets.compare_digest(expected, csrf):
        raise Forbidden("フォームの有効期限が切れました。ページを再読み込みしてください / invalid CSRF token")


CsrfChecked = Depends(verify_csrf)
