"""The dashboard's レポート page: the reports made, with forms to make one (a plain POST with the CSRF
token; works without JavaScript). The same rules as the API: officers and auditors make and read the
annual and monthly reports; only an officer makes and sees a disclosure report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from auditd.api.deps import DbSession, SettingsDep, require, verify_csrf
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.dashboard.router import flash, render, take_flash
from auditd.errors import ValidationFailed
from reports import service
from reports.render import FORMATS
from reports.schemas import ReportIn

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(PlatformRole.OFFICER, PlatformRole.AUDITOR))]


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, settings: SettingsDep, db: DbSession, principal: Reader) -> Response:
    today = datetime.now(UTC).astimezone(settings.tz).date()
    last_month = today.replace(day=1) - timedelta(days=1)
    current_fy = today.year if today.month >= 4 else today.year - 1
    return render(
        request,
        "reports.html",
        settings,
        principal=principal,
        reports=service.listing(db.connection(), principal, limit=200),
        fiscal_years=[*range(current_fy - 1, current_fy - 6, -1), current_fy],  # the year just ended first
        last_month=f"{last_month:%Y-%m}",
        formats=FORMATS,
        can_disclose=service.may_see_personal(principal),
        flash=take_flash(request),
        page="reports",
    )


@router.post("/reports", dependencies=[Depends(verify_csrf)])
def make_report(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Reader,
    kind: Annotated[str, Form(max_length=32)],
    format: Annotated[str, Form(max_length=8)] = "pdf",
    fiscal_year: Annotated[int | None, Form()] = None,
    month: Annotated[str | None, Form(max_length=7)] = None,
    resident: Annotated[str | None, Form(max_length=32)] = None,
    since: Annotated[str | None, Form(max_length=10)] = None,
    until: Annotated[str | None, Form(max_length=10)] = None,
    show_staff: Annotated[str | None, Form(max_length=1)] = None,
) -> Response:
    """Make the report and come back to the list, where it is the first row."""
    try:
        body = ReportIn.model_validate(
            {
                "kind": kind,
                "format": format,
                "fiscal_year": fiscal_year,
                "month": month or None,
                "resident": resident or None,
                "since": since or None,
                "until": until or None,
                "show_staff": True if show_staff else None,
            }
        )
        made = service.make(db.connection(), settings, principal, body, "dashboard")
    except ValidationError:
        db.rollback()
        flash(request, "error", "error_input")
        return RedirectResponse("/reports", status_code=303)
    except ValidationFailed as exc:
        db.rollback()
        flash(request, "error", "error_input", exc.message)
        return RedirectResponse("/reports", status_code=303)
    flash(request, "ok", "report_made", f"#{made.id} {made.title}")
    return RedirectResponse("/reports", status_code=303)
