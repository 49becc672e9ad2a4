"""Dashboard pages. Every page authorises through the same dependencies as the API."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from auditd import __version__
from auditd.alerts.models import SEVERITIES
from auditd.api.deps import (
    SESSION_USER_KEY,
    CurrentUser,
    DbSession,
    OptionalUser,
    RecordId,
    SecurityDep,
    SettingsDep,
    begin_pending,
    begin_session,
    client_address,
    csrf_token,
    end_session,
    request_principal,
    require,
    verify_csrf,
)
from auditd.api.ratelimit import LimitsDep, refusal_message
from auditd.auth import service as auth_service
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases import service as cases_service
from auditd.cases.models import CASE_STATUSES, DISPOSITIONS
from auditd.cases.schemas import AssignIn, BreachIn, BreachReportedIn, CloseIn, CommentIn, ReopenIn, SuppressionIn
from auditd.dashboard import service
from auditd.dashboard.charts import bar_chart
from auditd.dashboard.i18n import translator
from auditd.errors import Conflict, ValidationFailed
from auditd.store.db import session_scope

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
JST = timezone(timedelta(hours=9), "JST")

router = APIRouter(include_in_schema=False)


def _jst(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "—" if value is None else value.astimezone(JST).strftime(fmt)


TEMPLATES.env.filters["jst"] = _jst
TEMPLATES.env.filters["num"] = lambda v: f"{int(v or 0):,}"
TEMPLATES.env.globals["countdown"] = service.countdown


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def _days(value: float | None, t: Callable[[str], str]) -> str:
    return "—" if value is None else t("ov_days").replace("{n}", f"{value:,.1f}")


TEMPLATES.env.filters["pct"] = _pct
TEMPLATES.env.filters["days"] = _days


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


def error_page(request: Request, settings: Any, status: int, message: str, hint: str | None) -> HTMLResponse:
    """An error on a dashboard page, as a page (the API answers JSON). Not-found and not-allowed say
    the same to a reader who may not see the thing: nothing about whether it exists."""
    principal = _viewer(request)
    response = render(request, "error.html", settings, status=status, message=message, hint=hint, principal=principal)
    response.status_code = status
    return response


def _viewer(request: Request) -> Principal | None:
    """The person logged in, for the nav of an error page; None (a bare page) for anyone else, a bearer
    token included. The error may come before or after the route's session was rolled back: the person
    is read in a short session of its own, with the same idle and absolute timeouts as every page."""
    if "session" not in request.scope or request.headers.get("authorization", "").lower().startswith("bearer"):
        return None
    if not isinstance(request.session.get(SESSION_USER_KEY), int):
        return None
    with session_scope(request.app.state.session_factory) as db:
        return request_principal(request, db, request.app.state.security)


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
    connection = db.connection()
    today = cases_service.today_in(settings)
    data = service.overview(connection, principal.municipality_code)
    work = service.case_work(connection, settings, principal, today=today)
    two_factor = service.two_factor_coverage(connection, principal, data.as_of or _now(), today=today)
    lag = service.revocation_lag(connection, settings, principal, today=today)
    deadlines = service.deadlines(connection, settings, principal, work, today=today)
    t = translator(settings.language)
    daily_chart = bar_chart(
        [(d[5:], n) for d, n in data.daily],
        label_every=max(1, len(data.daily) // 10),
        title=t("events_per_day"),
        language=settings.language,
    )
    hourly_chart = bar_chart(
        [(f"{h}", n) for h, n in data.hourly],
        width=360,
        height=160,
        label_every=3,
        title=t("by_hour"),
        language=settings.language,
    )
    return render(
        request,
        "overview.html",
        settings,
        principal=principal,
        data=data,
        daily_chart=daily_chart,
        hourly_chart=hourly_chart,
        work=work,
        two_factor=two_factor,
        lag=lag,
        deadlines=deadlines,
        page="overview",
    )


# -- alerts and cases (事案) ---------------------------------------------------------------------------
# Reading: officers, auditors and section heads (their own section; the cases service refuses
# administrators). The forms follow ``auditd.cases.router``: officers handle a case, officers and
# section heads comment. Each form answers 303 back to the case page, with a message for the next view.

CaseHandler = Annotated[Principal, Depends(require(PlatformRole.OFFICER))]
CaseCommenter = Annotated[Principal, Depends(require(PlatformRole.OFFICER, PlatformRole.SECTION_HEAD))]
CaseId = RecordId
FLASH_KEY = "flash"


def _now() -> datetime:
    return datetime.now(UTC)


def flash(request: Request, kind: str, key: str, detail: str | None = None) -> None:
    request.session[FLASH_KEY] = {"kind": kind, "key": key, "detail": detail}


def take_flash(request: Request) -> dict[str, Any] | None:
    flash = request.session.pop(FLASH_KEY, None)
    return flash if isinstance(flash, dict) else None


def _back(case_id: int, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/cases/{case_id}{anchor}", status_code=303)


def _act(
    request: Request,
    db: DbSession,
    case_id: int,
    action: Callable[[], None],
    done: str,
    *,
    invalid: str = "error_input",
    anchor: str = "",
) -> RedirectResponse:
    """Run one form's change. A refusal the officer can act on (a bad input, a state that does not
    allow it) is shown on the page; anything else (no such case, not allowed) is answered as the API
    does."""
    try:
        action()
    except ValidationError:
        db.rollback()
        flash(request, "error", invalid)
        return _back(case_id)  # the message is at the top of the page
    except (Conflict, ValidationFailed) as exc:
        db.rollback()
        flash(request, "error", "error_conflict" if isinstance(exc, Conflict) else invalid, exc.message)
        return _back(case_id)
    flash(request, "ok", done)
    return _back(case_id, anchor)


@router.get("/cases", response_class=HTMLResponse)
def cases_page(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: CurrentUser,
    status: Annotated[str | None, Query(max_length=16)] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """事案一覧: filtered by a plain GET form (works without JavaScript)."""
    status = status if status in (service.OPEN, *CASE_STATUSES) else None
    severity = severity if severity in SEVERITIES else None
    cases = service.list_cases(db.connection(), principal, status=status, severity=severity)
    return render(
        request,
        "cases.html",
        settings,
        principal=principal,
        cases=cases,
        status=status,
        severity=severity,
        statuses=(service.OPEN, *CASE_STATUSES),
        severities=SEVERITIES,
        limit=service.CASE_LIST_LIMIT,
        page="cases",
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, settings: SettingsDep, db: DbSession, principal: CurrentUser, case_id: CaseId
) -> Response:
    """事案: the header, the breach checklist, the alerts, the history, the evidence and the forms
    of the roles that may use them. Reading it is recorded (``case_view``)."""
    case = cases_service.case_detail(db.connection(), settings, principal, case_id, client=client_address(request))
    return render(
        request,
        "case.html",
        settings,
        principal=principal,
        case=case,
        alerts=case.alerts,
        history=service.history(case.history, translator(settings.language)),
        can_handle=principal.role in service.CASE_HANDLERS,
        can_comment=principal.role in service.CASE_COMMENTERS,
        dispositions=DISPOSITIONS,
        suppress_from=f"/cases/{case.id}",
        today=cases_service.today_in(settings),
        flash=take_flash(request),
        page="cases",
    )


@router.post("/cases/{case_id}/assign", dependencies=[Depends(verify_csrf)])
def assign_case(
    request: Request,
    db: DbSession,
    principal: CaseHandler,
    case_id: CaseId,
    assignee: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    def action() -> None:
        body = AssignIn(assignee=assignee)
        cases_service.assign(
            db.connection(), principal, case_id, body.assignee, now=_now(), client=client_address(request)
        )

    return _act(request, db, case_id, action, "done_assigned", invalid="error_assignee")


@router.post("/cases/{case_id}/investigate", dependencies=[Depends(verify_csrf)])
def investigate_case(request: Request, db: DbSession, principal: CaseHandler, case_id: CaseId) -> Response:
    def action() -> None:
        cases_service.start_investigation(
            db.connection(), principal, case_id, now=_now(), client=client_address(request)
        )

    return _act(request, db, case_id, action, "done_investigating")


@router.post("/cases/{case_id}/comment", dependencies=[Depends(verify_csrf)])
def comment_case(
    request: Request,
    db: DbSession,
    principal: CaseCommenter,
    case_id: CaseId,
    body: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    def action() -> None:
        comment = CommentIn(body=body)
        cases_service.comment(
            db.connection(), principal, case_id, comment.body, now=_now(), client=client_address(request)
        )

    return _act(request, db, case_id, action, "done_comment", invalid="error_comment", anchor="#history")


@router.post("/cases/{case_id}/close", dependencies=[Depends(verify_csrf)])
def close_case(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: CaseHandler,
    case_id: CaseId,
    disposition: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Close with a disposition and its reason (不適切 and 不正 open the breach checklist)."""
    if disposition not in DISPOSITIONS:
        flash(request, "error", "error_disposition")
        return _back(case_id)

    def action() -> None:
        body = CloseIn.model_validate({"disposition": disposition, "reason": reason})
        cases_service.close(
            db.connection(),
            settings,
            principal,
            case_id,
            body.disposition,
            body.reason,
            now=_now(),
            client=client_address(request),
        )

    return _act(request, db, case_id, action, "done_closed", invalid="error_reason")


@router.post("/cases/{case_id}/reopen", dependencies=[Depends(verify_csrf)])
def reopen_case(
    request: Request,
    db: DbSession,
    principal: CaseHandler,
    case_id: CaseId,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    def action() -> None:
        body = ReopenIn(reason=reason)
        cases_service.reopen(
            db.connection(), principal, case_id, body.reason, now=_now(), client=client_address(request)
        )

    return _act(request, db, case_id, action, "done_reopened", invalid="error_reason")


@router.post("/cases/{case_id}/evidence", dependencies=[Depends(verify_csrf)])
def export_case_evidence(
    request: Request, settings: SettingsDep, db: DbSession, principal: CaseHandler, case_id: CaseId
) -> Response:
    def action() -> None:
        cases_service.export_evidence(
            db.connection(), settings, principal, case_id, now=_now(), client=client_address(request)
        )

    return _act(request, db, case_id, action, "done_evidence", anchor="#attachments")


@router.post("/cases/{case_id}/breach/reported", dependencies=[Depends(verify_csrf)])
def breach_reported(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: CaseHandler,
    case_id: CaseId,
    stage: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Record that the 速報 or the 確報 was made to the PPC."""

    def action() -> None:
        body = BreachReportedIn.model_validate({"stage": stage})
        cases_service.breach_reported(
            db.connection(), settings, principal, case_id, body.stage, now=_now(), client=client_address(request)
        )

    return _act(request, db, case_id, action, "done_reported", invalid="error_stage", anchor="#breach")


@router.post("/cases/{case_id}/breach", dependencies=[Depends(verify_csrf)])
def breach_checklist(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: CaseHandler,
    case_id: CaseId,
    discovered_on: Annotated[str, Form(max_length=10)] = "",
    mynumber_system: Annotated[str | None, Form(max_length=8)] = None,
    wrongful_purpose: Annotated[str | None, Form(max_length=8)] = None,
    over_100: Annotated[str | None, Form(max_length=8)] = None,
    public_exposure: Annotated[str | None, Form(max_length=8)] = None,
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Answer the 漏えい等報告 checklist: a box not ticked is "no" (a browser sends nothing for it); the
    deadlines are computed again from the answers."""

    def action() -> None:
        body = BreachIn.model_validate(
            {
                "discovered_on": discovered_on.strip() or None,
                "mynumber_system": mynumber_system is not None,
                "wrongful_purpose": wrongful_purpose is not None,
                "over_100": over_100 is not None,
                "public_exposure": public_exposure is not None,
                "note": note.strip(),
            }
        )
        cases_service.update_breach(
            db.connection(), settings, principal, case_id, body, now=_now(), client=client_address(request)
        )

    return _act(request, db, case_id, action, "brc_done", invalid="brc_error", anchor="#breach")


# -- suppressions (抑制): officers only, as ``/api/v1/suppressions`` ----------------------------------------

_BACK_TO = re.compile(r"^/(cases|alerts)/[1-9][0-9]{0,9}$")


@router.get("/suppressions", response_class=HTMLResponse)
def suppressions_page(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: CaseHandler,
    all: Annotated[bool, Query()] = False,
) -> Response:
    """抑制の一覧: those in force (or all, ended and expired too), each with the alerts it suppressed and a
    form to end it."""
    today = cases_service.today_in(settings)
    found = cases_service.list_suppressions(db.connection(), principal, active_on=None if all else today)
    return render(
        request,
        "suppressions.html",
        settings,
        principal=principal,
        suppressions=found.items,
        show_all=all,
        today=today,
        flash=take_flash(request),
        page="cases",
    )


@router.post("/suppressions", dependencies=[Depends(verify_csrf)])
def create_suppression(
    request: Request,
    db: DbSession,
    principal: CaseHandler,
    rule: Annotated[str, Form(max_length=64)] = "",
    user_id: Annotated[str, Form(max_length=64)] = "",
    subject: Annotated[str, Form(max_length=64)] = "",
    section: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
    expires_on: Annotated[str, Form(max_length=10)] = "",
    back: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Made from a case's (or an alert's) page with the values of its alerts, and answered 303 back there;
    a refusal (no item to match, no reason, a bad date) is a message at the form."""
    target = back if _BACK_TO.match(back) else "/suppressions"
    try:
        body = SuppressionIn.model_validate(
            {
                "rule": rule or None,
                "user_id": user_id or None,
                "subject": subject or None,
                "section": section or None,
                "reason": reason,
                "expires_on": expires_on.strip() or None,
            }
        )
        cases_service.create_suppression(db.connection(), principal, body, now=_now(), client=client_address(request))
    except (ValidationError, ValidationFailed) as exc:
        db.rollback()
        flash(request, "error", "sup_error_input", exc.message if isinstance(exc, ValidationFailed) else None)
        return RedirectResponse(f"{target}#suppress", status_code=303)
    flash(request, "ok", "sup_done_created")
    return RedirectResponse(f"{target}#suppress", status_code=303)


@router.post("/suppressions/{suppression_id}/revoke", dependencies=[Depends(verify_csrf)])
def revoke_suppression(request: Request, db: DbSession, principal: CaseHandler, suppression_id: RecordId) -> Response:
    try:
        cases_service.revoke_suppression(
            db.connection(), principal, suppression_id, now=_now(), client=client_address(request)
        )
    except Conflict as exc:
        db.rollback()
        flash(request, "error", "sup_error_ended", exc.message)
        return RedirectResponse("/suppressions?all=true", status_code=303)
    flash(request, "ok", "sup_done_revoked")
    return RedirectResponse("/suppressions?all=true", status_code=303)


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(
    request: Request, settings: SettingsDep, db: DbSession, principal: CurrentUser, alert_id: RecordId
) -> Response:
    """The e-mails' link to an alert: its case's page at the alert, or the alert alone when it is in no
    case (suppressed, or not triaged yet). Reading it is recorded (``alert_view``)."""
    alert = cases_service.get_alert(db.connection(), principal, alert_id, client=client_address(request))
    if alert.case_id is not None:
        return RedirectResponse(f"/cases/{alert.case_id}#alert-{alert.id}", status_code=303)
    return render(
        request,
        "case.html",
        settings,
        principal=principal,
        case=None,
        alerts=[alert],
        can_handle=principal.role in service.CASE_HANDLERS,
        suppress_from=f"/alerts/{alert.id}",
        today=cases_service.today_in(settings),
        flash=take_flash(request),
        page="cases",
    )
