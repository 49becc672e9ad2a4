"""Dashboard pages. Every page authorises through the same dependencies as the API."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from auditd import __version__
from auditd.api.deps import (
    CurrentUser,
    DbSession,
    OptionalUser,
    SecurityDep,
    SettingsDep,
    begin_pending,
    begin_session,
    client_address,
    csrf_token,
    end_session,
    verify_csrf,
)
from auditd.api.ratelimit import LimitsDep, refusal_message
from auditd.auth import service as auth_service
from auditd.dashboard import service
from auditd.dashboard.charts import bar_chart
from auditd.dashboard.i18n import translator

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
JST = timezone(timedelta(hours=9), "JST")

router = APIRouter(include_in_schema=False)


def _jst(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "—" if value is None else value.astimezone(JST).strftime(fmt)


TEMPLATES.env.filters["jst"] = _jst
TEMPLATES.env.filters["num"] = lambda v: f"{int(v or 0):,}"


def render(request: Request, template: str, settings: Any, **context: Any) -> HTMLResponse:
    context.setdefault("principal", None)
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "t": translator(settings.language),
            "lang": settings.language,
            "csrf": csrf_token(request),
            "version": __version__,
            **context,
        },
    )


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after login would be a phishing aid. Browsers read "/\\host"
    # as "//host", and control characters can split a header: both are refused.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)
    ):
        return target
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, settings: SettingsDep, principal: OptionalUser, next: str | None = None) -> Response:
    if principal is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", settings, next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
def login(
    request: Request,
    settings: SettingsDep,
    security: SecurityDep,
    limits: LimitsDep,
    db: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """The password step. Officers and administrators (and anyone with a second factor) go on to
    ``/login/totp``; the others are logged in. Attempts are rate-limited per address and username."""
    client = client_address(request)
    name = username.strip()
    target = _safe_next(next)
    verdict = limits.login_attempt(client, name)
    if not verdict.allowed:
        if verdict.first_refusal:
            auth_service.record_rate_limited(
                db,
                settings.municipality_code,
                name,
                limited_by=(verdict.key or "?").partition(":")[0],
                retry_after=verdict.retry_after,
                step="password",
                client=client,
            )
        response = render(
            request,
            "login.html",
            settings,
            next=target,
            error=refusal_message(verdict, settings.language),
            username=username,
        )
        response.status_code = 429
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    outcome = auth_service.authenticate(
        db, settings.municipality_code, name, password, client=client, security=security
    )
    if outcome.pending is not None:
        begin_pending(request, outcome.pending, target)
        return RedirectResponse("/login/totp", status_code=303)
    if outcome.principal is None:
        response = render(request, "login.html", settings, next=target, error=outcome.message, username=username)
        response.status_code = 401
        return response
    begin_session(request, outcome.principal, outcome.session_epoch)
    return RedirectResponse(target, status_code=303)


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request, db: DbSession, principal: OptionalUser) -> Response:
    """End the session, and every copy of it: the user's session epoch moves on (recorded)."""
    if principal is not None:
        auth_service.logout(db, principal, client=client_address(request))
    end_session(request)
    return RedirectResponse("/login", status_code=303)


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, settings: SettingsDep, db: DbSession, principal: CurrentUser) -> Response:
    data = service.overview(db.connection(), principal.municipality_code)
    t = translator(settings.language)
    daily_chart = bar_chart(
        [(d[5:], n) for d, n in data.daily],
        label_every=max(1, len(data.daily) // 10),
        title=t("events_per_day"),
    )
    hourly_chart = bar_chart(
        [(f"{h}", n) for h, n in data.hourly], width=360, height=160, label_every=3, title=t("by_hour")
    )
    return render(
        request,
        "overview.html",
        settings,
        principal=principal,
        data=data,
        daily_chart=daily_chart,
        hourly_chart=hourly_chart,
        page="overview",
    )
