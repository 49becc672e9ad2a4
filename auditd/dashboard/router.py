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
    SESSION_USER_KEY,
    CurrentUser,
    DbSession,
    OptionalUser,
    SettingsDep,
    csrf_token,
    verify_csrf,
)
from auditd.auth.service import authenticate
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
    # Only local paths: an open redirect after login would be a phishing aid.
    if target and target.startswith("/") and not target.startswith("//"):
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
    db: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    client = request.client.host if request.client else None
    outcome = authenticate(db, settings.municipality_code, username.strip(), password, client=client)
    if outcome.principal is None:
        response = render(
            request, "login.html", settings, next=_safe_next(next), error=outcome.message, username=username
        )
        response.status_code = 401
        return response
    request.session.clear()  # a new session on login: no fixation
    request.session[SESSION_USER_KEY] = outcome.principal.user_id
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=[Depends(verify_csrf)])
def logout(request: Request) -> Response:
    request.session.clear()
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
