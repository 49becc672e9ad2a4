"""The dashboard's 職員 (staff) and 権限管理 (rights) pages.

職員: the operator accounts with their holder, section and recent activity (from the ``account_days``
rollup), and one account's page: its person, grants and requests, recent logins and their factors,
when it works (hour × weekday over 90 days, counted in SQL through ``ix_events_user_ts``), the
systems it uses, its alerts and cases, and how it compares with the other accounts of its section.
Officers and auditors see every account; a section head sees the staff of their own section only
(another section's account answers the same 404 as a missing one); administrators see none (the
pages carry what staff did with residents' records). Opening an account's page is recorded.

権限管理: the requests waiting for a decision, the grants (by section, status, end within N days),
the revocations due after the personnel register made grants lapse, grants without an end, and for
officers and auditors the revocation lag and dormant accounts — each for whom the API shows it
(``auditd.rights.router``). Dormant accounts are read from the ``account_days`` rollup (by Japan day)
rather than through ``service.dormant``, which groups every login event ever stored. Approving and
rejecting are the API's service calls behind plain CSRF-protected forms, for officers and section
heads (their own section), never one's own request; a refusal comes back as a message on the page.
Auditors read without forms.

API tokens are refused on both pages (``require`` without scopes), as on every dashboard page.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from auditd.api.deps import DbSession, RecordId, SettingsDep, client_address, require, verify_csrf
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases import service as cases_service
from auditd.dashboard.charts import heatmap
from auditd.dashboard.i18n import translator
from auditd.dashboard.router import flash, render, take_flash
from auditd.errors import Conflict, Forbidden, NotFound, ValidationFailed
from auditd.events import repository as events_repo
from auditd.events.rollup import account_activity
from auditd.rights import repository, service
from auditd.rights.schemas import ApprovalIn, DecisionIn
from auditd.trail.service import record

router = APIRouter(include_in_schema=False)

_OFFICER, _HEAD, _AUDITOR = PlatformRole.OFFICER, PlatformRole.SECTION_HEAD, PlatformRole.AUDITOR
#: Who reads the pages: as ``GET /api/v1/rights/grants`` (people only; administrators see no resident data).
Reader = Annotated[Principal, Depends(require(_OFFICER, _HEAD, _AUDITOR))]
#: Who decides requests: as ``POST /api/v1/rights/requests/{id}/approve``.
Decider = Annotated[Principal, Depends(require(_OFFICER, _HEAD))]
#: Who sees the revocation lag and the dormant accounts: as those API routes (not section heads).
AUDIT_ROLES = (_OFFICER, _AUDITOR)

STAFF_LIMIT = 500
LIST_DAYS = 30  # the staff list's activity window
PROFILE_DAYS = 90  # an account's heatmap, systems, logins and peer comparison
SESSIONS_SHOWN = 20
GRANT_LIMIT = 500
LIST_LIMIT = 200
GRANT_STATUSES = ("active", "suspended", "revoked")
WEEKDAYS = {
    "ja": ("月", "火", "水", "木", "金", "土", "日"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}

UserId = Annotated[str, Path(min_length=1, max_length=64)]
TextFilter = Annotated[str | None, Query(max_length=64)]


def _now() -> datetime:
    return datetime.now(UTC)


def _clean(text: str | None) -> str | None:
    """A filter as typed, or None when empty or carrying control characters."""
    value = (text or "").strip()
    if not value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return None
    return value


def _data_until(connection: Any, municipality_code: str, now: datetime) -> datetime:
    """Where activity windows end: now, or the newest stored event when the data stops earlier (an
    imported archive, the demo), as the overview does; a window of empty days would show nothing."""
    latest = events_repo.latest_event_ts(connection, municipality_code)
    return now if latest is None else min(now, latest + timedelta(microseconds=1))


def _sections(connection: Any, principal: Principal, today: Any) -> dict[str, str]:
    """Section code → name for a filter: a section head's own, else every section (named by the
    sections feed, or the sections somebody is assigned to)."""
    names = repository.section_names(connection, principal.municipality_code)
    if principal.is_section_scoped:
        code = principal.section_code
        return {} if code is None else {code: names.get(code, code)}
    codes = sorted(set(names) | set(repository.assigned_sections(connection, principal.municipality_code, today)))
    return {code: names.get(code, code) for code in codes}


# -- 職員 ----------------------------------------------------------------------------------------------


@router.get("/staff", response_class=HTMLResponse)
def staff_page(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Reader,
    q: TextFilter = None,
    section: TextFilter = None,
) -> Response:
    """職員一覧: accounts by account or name, and section; activity of the last 30 days from the rollup."""
    connection = db.connection()
    today = service.today_in(settings)
    search, section_code = _clean(q), _clean(section)
    accounts = repository.staff_accounts(
        connection, principal, today=today, search=search, section_code=section_code, limit=STAFF_LIMIT
    )
    last_day = _data_until(connection, principal.municipality_code, _now()).astimezone(settings.tz).date()
    activity = account_activity(
        connection, principal.municipality_code, last_day - timedelta(days=LIST_DAYS - 1), last_day
    ).set_index("user_id")
    for row in accounts:
        figures = activity.loc[row["user_id"]] if row["user_id"] in activity.index else None
        row["days"] = 0 if figures is None else int(figures["days"])
        row["events"] = 0 if figures is None else int(figures["events"])
        row["outputs"] = 0 if figures is None else int(figures["outputs"])
        row["last_login"] = None if figures is None or pd.isna(figures["last_login"]) else figures["last_login"]
    return render(
        request,
        "staff.html",
        settings,
        principal=principal,
        accounts=accounts,
        sections=_sections(connection, principal, today),
        q=search or "",
        section=section_code or "",
        limit=STAFF_LIMIT,
        list_days=LIST_DAYS,
        today=today,
        page="staff",
    )


@router.get("/staff/{user_id}", response_class=HTMLResponse)
def staff_detail_page(
    request: Request, settings: SettingsDep, db: DbSession, principal: Reader, user_id: UserId
) -> Response:
    """One account: holder, grants, logins, when and where it works, alerts and cases, and its peers."""
    connection = db.connection()
    mc = principal.municipality_code
    now = _now()
    today = service.today_in(settings, now)
    account = repository.staff_account(connection, principal, user_id, today)
    if account is None:  # missing, or another section's: the same answer
        raise NotFound("該当する職員IDはありません / no such account")
    until = _data_until(connection, mc, now)
    last_day = until.astimezone(settings.tz).date()
    first_day = last_day - timedelta(days=PROFILE_DAYS - 1)
    start = datetime.combine(first_day, time(0), tzinfo=settings.tz).astimezone(UTC)
    t = translator(settings.language)

    grid, systems = service.weekday_hour_grid(repository.activity_cells(connection, mc, user_id, start, until))
    weekdays = WEEKDAYS.get(settings.language, WEEKDAYS["ja"])
    chart = heatmap(weekdays, [str(h) for h in range(24)], grid, title=t("staff_heatmap"))

    sessions = repository.account_logins(connection, mc, user_id, start, until, SESSIONS_SHOWN)
    factors = repository.login_factors(connection, mc, user_id, start, until)  # factor set → successful logins

    section_code = account["section_code"]
    peers = repository.section_accounts(connection, mc, section_code, today) if section_code else []
    totals = repository.account_day_totals(connection, mc, first_day, last_day, sorted({*peers, user_id}))
    compared = service.peer_comparison(totals, user_id, peers)
    peers_used = sum(1 for p in peers if p != user_id and totals.get(p, {}).get("days"))

    record(connection, mc, principal.username, "staff_view", "account", user_id, None, client_address(request))
    return render(
        request,
        "staff_detail.html",
        settings,
        principal=principal,
        account=account,
        section_name=repository.section_names(connection, mc).get(section_code or "", ""),
        assignments=repository.assignments_of(connection, mc, account["staff_id"]) if account["staff_id"] else [],
        grants=service.list_grants(
            connection, principal, user_id=user_id, status=None, today=today, limit=LIST_LIMIT
        ).grants,
        requests=service.list_requests(
            connection, principal, status=None, user_id=user_id, today=today, limit=LIST_LIMIT
        ).requests,
        sessions=sessions,
        factors=factors,
        chart=chart,
        total_events=sum(systems.values()),
        systems=systems,
        alerts=cases_service.list_alerts(connection, principal, user_id=user_id, limit=LIST_LIMIT).items,
        cases=cases_service.list_cases(connection, principal, user_id=user_id, limit=LIST_LIMIT).items,
        compared=compared,
        own_days=totals.get(user_id, {}).get("days", 0),
        peers_used=peers_used,
        days=PROFILE_DAYS,
        page="staff",
    )


# -- 権限管理 --------------------------------------------------------------------------------------------


def _days(text: str | None, default: int | None, top: int = 3660) -> int | None:
    value = (text or "").strip()
    return int(value) if value.isdigit() and 1 <= int(value) <= top else default


@router.get("/rights", response_class=HTMLResponse)
def rights_page(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Reader,
    section: TextFilter = None,
    status: TextFilter = None,
    expiring: Annotated[str | None, Query(max_length=8)] = None,
    dormant_days: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """権限管理: the requests to decide, the grants, what is due, and the audit measures."""
    connection = db.connection()
    now = _now()
    today = service.today_in(settings, now)
    section_code = _clean(section)
    status = status if status in GRANT_STATUSES else None
    within = _days(expiring, None)
    idle = _days(dormant_days, 90) or 90
    can_audit = principal.role in AUDIT_ROLES
    return render(
        request,
        "rights.html",
        settings,
        principal=principal,
        pending=service.list_requests(
            connection, principal, status="pending", user_id=None, today=today, limit=LIST_LIMIT
        ).requests,
        can_decide=principal.role in (_OFFICER, _HEAD),
        grants=repository.grant_rows(
            connection,
            principal,
            today=today,
            section_code=section_code,
            status=status,
            expiring_by=None if within is None else today + timedelta(days=within),
            limit=GRANT_LIMIT,
        ),
        grant_limit=GRANT_LIMIT,
        sections=_sections(connection, principal, today),
        section=section_code or "",
        status=status or "",
        statuses=GRANT_STATUSES,
        expiring=within or "",
        due=repository.lapsed_open(connection, principal, today, LIST_LIMIT),
        without_expiry=service.list_grants(
            connection,
            principal,
            user_id=None,
            status="active",
            today=today,
            without_expiry=True,
            limit=LIST_LIMIT,
        ).grants,
        can_audit=can_audit,
        lag=service.revocation_lag(connection, settings, principal, today=today) if can_audit else None,
        dormant=repository.dormant_accounts_by_day(
            connection, principal.municipality_code, today - timedelta(days=idle), today, LIST_LIMIT
        )
        if can_audit
        else None,
        dormant_days=idle,
        list_limit=LIST_LIMIT,
        today=today,
        flash=take_flash(request),
        page="rights",
    )


def _back() -> RedirectResponse:
    return RedirectResponse("/rights#requests", status_code=303)


def _refused(request: Request, db: DbSession, exc: Exception) -> RedirectResponse:
    """A refusal the person can read (their own request, another section, decided meanwhile, a bad
    input): the service's reason at the top of the page, nothing changed."""
    db.rollback()
    if isinstance(exc, ValidationError):
        flash(request, "error", "rgt_reason_needed")
    else:
        flash(request, "error", "rgt_not_done", getattr(exc, "message", None))
    return _back()


@router.post("/rights/requests/{request_id}/approve", dependencies=[Depends(verify_csrf)])
def approve_request(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Decider,
    request_id: RecordId,
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Approve a request and issue its grant, as ``POST /api/v1/rights/requests/{id}/approve`` does."""
    try:
        body = ApprovalIn.model_validate({"comment": comment.strip() or None})
        decision = service.approve_request(
            db.connection(),
            principal,
            service.role_catalog(settings),
            request_id,
            comment=body.comment,
            now=_now(),
            client=client_address(request),
        )
    except (ValidationError, Forbidden, NotFound, Conflict, ValidationFailed) as exc:
        return _refused(request, db, exc)
    grant = decision.grant
    detail = None if grant is None else f"#{grant.id} {grant.user_id} {grant.role}"
    flash(request, "ok", "rgt_approved", detail)
    return _back()


@router.post("/rights/requests/{request_id}/reject", dependencies=[Depends(verify_csrf)])
def reject_request(
    request: Request,
    db: DbSession,
    principal: Decider,
    request_id: RecordId,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Reject a request with the reason, as ``POST /api/v1/rights/requests/{id}/reject`` does."""
    try:
        body = DecisionIn.model_validate({"reason": reason})
        decision = service.reject_request(
            db.connection(), principal, request_id, body.reason, now=_now(), client=client_address(request)
        )
    except (ValidationError, Forbidden, NotFound, Conflict, ValidationFailed) as exc:
        return _refused(request, db, exc)
    flash(
        request,
        "ok",
        "rgt_rejected",
        f"{decision.request.user_id} {decision.request.role}" if decision.request else None,
    )
    return _back()
