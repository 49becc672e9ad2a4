"""The dashboard's レポート page: the reports made, with forms to make one (a plain POST with the CSRF
token; works without JavaScript). The same rules as the API: officers and auditors make and read the
annual and monthly reports; only an officer makes and sees a disclosure report.

The same page shows the self-inspection's attestations of a fiscal year (自己点検の証跡) and the PIA
register (評価書台帳); officers attest (with an evidence file, a multipart form), add a 評価書 and
record its reviews there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Connection

from auditd.api.deps import DbSession, RecordId, SettingsDep, require, verify_csrf
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.dashboard.router import flash, render, take_flash
from auditd.errors import AuditdError, ValidationFailed
from auditd.mail import service as mail
from auditd.mail.service import Recipient
from auditd.reports.models import ATTESTATION_ITEMS, ATTESTATION_RESULTS, PIA_KINDS
from auditd.settings import Settings
from reports import attest, jobs, pia, service
from reports.render import FORMATS
from reports.router import read_upload
from reports.schemas import PiaIn, PiaReviewIn, ReportIn

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(require(PlatformRole.OFFICER, PlatformRole.AUDITOR))]
Officer = Annotated[Principal, Depends(require(PlatformRole.OFFICER))]


def _fiscal_year_of(day: date) -> int:
    return day.year if day.month >= 4 else day.year - 1


@dataclass(frozen=True)
class Schedule:
    """What the scheduled jobs will make next (``reports.jobs``: the same date rules), in which formats,
    and to whom its mail goes (the active recipients of the daily digest)."""

    month: str  # YYYY-MM of the next monthly record
    monthly_on: date
    fiscal: int
    annual_on: date
    annual_rule: str  # MM-DD
    formats: tuple[str, ...]
    recipients: tuple[Recipient, ...]


def schedule(connection: Connection, settings: Settings, municipality_code: str, today: date) -> Schedule:
    month, monthly_on = jobs.next_monthly(connection, municipality_code, today)
    fiscal, annual_on = jobs.next_annual(settings, today)
    recipients = tuple(r for r in mail.list_recipients(connection, municipality_code) if r.digest)
    return Schedule(
        month=month,
        monthly_on=monthly_on,
        fiscal=fiscal,
        annual_on=annual_on,
        annual_rule=settings.report_annual_on,
        formats=tuple(settings.report_formats),
        recipients=recipients,
    )


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Reader,
    fy: Annotated[int | None, Query(ge=2000, le=2100)] = None,
) -> Response:
    today = datetime.now(UTC).astimezone(settings.tz).date()
    last_month = today.replace(day=1) - timedelta(days=1)
    current_fy = _fiscal_year_of(today)
    # the self-inspection is of the year just ended (done in spring): that one unless another is chosen
    attest_fy = fy if fy is not None else current_fy - 1
    code = principal.municipality_code
    history = attest.listing(db.connection(), code, attest_fy).items
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
        can_attest=attest.may_attest(principal),
        attest_fy=attest_fy,
        attestations={a.item: a for a in history if a.current},
        superseded=[a for a in history if not a.current],
        attestation_items=ATTESTATION_ITEMS,
        attestation_results=ATTESTATION_RESULTS,
        pias=pia.register(db.connection(), code, today),
        schedule=schedule(db.connection(), settings, code, today),
        pia_kinds=PIA_KINDS,
        today=today,
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


# -- attestations and the PIA register ---------------------------------------------------------------


def _back(anchor: str, fiscal_year: int | None = None) -> RedirectResponse:
    query = "" if fiscal_year is None else f"?fy={fiscal_year}"
    return RedirectResponse(f"/reports{query}#{anchor}", status_code=303)


def _failed(request: Request, db: DbSession, exc: Exception) -> None:
    db.rollback()
    detail = exc.message if isinstance(exc, AuditdError) else _first_error(exc)
    flash(request, "error", "error_input", detail)


def _first_error(exc: Exception) -> str | None:
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return None


def _optional_day(text: str) -> str | None:
    return text.strip() or None


@router.post("/reports/attest", dependencies=[Depends(verify_csrf)])
def attest_item(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Officer,
    fiscal_year: Annotated[int | None, Form()] = None,
    item: Annotated[str, Form(max_length=32)] = "",
    result: Annotated[str, Form(max_length=16)] = "",
    statement: Annotated[str, Form(max_length=attest.MAX_STATEMENT)] = "",
    evidence: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Attest one item of a fiscal year, with an optional evidence file; back to the year's answers."""
    try:
        attest.require_officer(principal)
        if fiscal_year is None:
            raise ValidationFailed("choose a fiscal year / 年度を選択してください")
        file = None if evidence is None or not evidence.filename else read_upload(settings, evidence)
        attest.attest(
            db.connection(),
            settings,
            principal.municipality_code,
            fiscal_year=fiscal_year,
            item=item,
            result=result,
            statement=statement,
            evidence=file,
            actor=principal.username,
            client="dashboard",
            now=datetime.now(UTC),
        )
    except ValidationFailed as exc:
        _failed(request, db, exc)
        return _back("attestations", fiscal_year)
    except AuditdError as exc:  # too large a file: said on the page, not as an error page
        if exc.status != 413:
            raise
        _failed(request, db, exc)
        return _back("attestations", fiscal_year)
    flash(request, "ok", "attested", ATTESTATION_ITEMS.get(item, item))
    return _back("attestations", fiscal_year)


@router.post("/reports/pia", dependencies=[Depends(verify_csrf)])
def add_pia(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Officer,
    title: Annotated[str, Form(max_length=200)] = "",
    jimu: Annotated[str, Form(max_length=100)] = "",
    kind: Annotated[str, Form(max_length=16)] = "",
    published_on: Annotated[str, Form(max_length=10)] = "",
    last_reviewed_on: Annotated[str, Form(max_length=10)] = "",
    reassessed_on: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Add a 評価書 to the register; back to the register."""
    values: dict[str, Any] = {
        "title": title,
        "jimu": jimu,
        "kind": kind,
        "published_on": _optional_day(published_on),
        "last_reviewed_on": _optional_day(last_reviewed_on),
        "reassessed_on": _optional_day(reassessed_on),
        "note": note.strip() or None,
    }
    try:
        body = PiaIn.model_validate(values)
        pia.add(
            db.connection(),
            principal.municipality_code,
            body,
            actor=principal.username,
            client="dashboard",
            now=datetime.now(UTC),
        )
    except (ValidationError, ValidationFailed) as exc:
        _failed(request, db, exc)
        return _back("pia")
    flash(request, "ok", "pia_added", body.title)
    return _back("pia")


@router.post("/reports/pia/{pia_id}/review", dependencies=[Depends(verify_csrf)])
def review_pia(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Officer,
    pia_id: RecordId,
    reviewed_on: Annotated[str, Form(max_length=10)] = "",
    kind: Annotated[str, Form(max_length=16)] = "review",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Record a review (or re-assessment) of a 評価書; back to the register."""
    now = datetime.now(UTC)
    try:
        body = PiaReviewIn.model_validate(
            {"reviewed_on": _optional_day(reviewed_on), "kind": kind, "note": note.strip() or None}
        )
        pia.review(
            db.connection(),
            principal.municipality_code,
            pia_id,
            body,
            actor=principal.username,
            client="dashboard",
            now=now,
            today=now.astimezone(settings.tz).date(),
        )
    except (ValidationError, ValidationFailed) as exc:
        _failed(request, db, exc)
        return _back("pia")
    flash(request, "ok", "pia_reviewed", f"#{pia_id}")
    return _back("pia")
