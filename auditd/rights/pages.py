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
from urllib.parse import quote

import pandas as pd
from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from auditd.api.deps import DbSession, RecordId, SettingsDep, client_address, require, verify_csrf
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases import service as cases_service
from auditd.dashboard.charts import heatmap
from auditd.dashboard.i18n import translator
from auditd.dashboard.router import flash, render, take_flash
from auditd.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from auditd.events import repository as events_repo
from auditd.events.rollup import account_activity
from auditd.rights import campaigns, contracts, ledger, repository, service
from auditd.rights.router import LEDGER_MAX_BYTES
from auditd.rights.schemas import (
    AccountIn,
    ApprovalIn,
    CampaignIn,
    ContractIn,
    ContractOperatorIn,
    DecisionIn,
    RecertDecisionIn,
    RevokeIn,
)
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
    activity = account_activity(  # of the accounts shown only: a seek each, not the municipality's days
        connection,
        principal.municipality_code,
        last_day - timedelta(days=LIST_DAYS - 1),
        last_day,
        [row["user_id"] for row in accounts],
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
        # -- contractors: the contracts the holder works under (contract, pledge, work window)
        contract_roster=contracts.roster_of(connection, mc, account["staff_id"]),
        flash=take_flash(request),  # -- ledger: the revocation form's message
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
        # -- recertification campaigns
        recert_campaigns=campaigns.list_campaigns(connection, principal, limit=CAMPAIGNS_SHOWN).campaigns,
        recert_can_open=principal.role is _OFFICER,
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


# -- recertification campaigns (権限表の見直し) ---------------------------------------------------------
# /rights/campaigns/{id}: the campaign, the report by section (officers and auditors, as the API's
# report) and the grants under review the reader may see (a section head: their own section's, another
# section's item answers 404), unused ones highlighted. Deciding, opening, reminding and closing are the
# API's service calls behind CSRF-protected forms; a refusal comes back as a message on the page.

CAMPAIGNS_SHOWN = 20
#: Who opens, reminds and closes a campaign: as ``POST /api/v1/rights/campaigns``.
CampaignRunner = Annotated[Principal, Depends(require(_OFFICER))]


def _campaign_back(campaign_id: int | None, anchor: str = "") -> RedirectResponse:
    target = f"/rights/campaigns/{campaign_id}" if campaign_id else "/rights"
    return RedirectResponse(f"{target}{anchor}", status_code=303)


def _campaign_refused(request: Request, db: DbSession, exc: Exception, campaign_id: int | None) -> RedirectResponse:
    db.rollback()
    if isinstance(exc, ValidationError):
        flash(request, "error", "recert_reason_needed")
    else:
        flash(request, "error", "recert_not_done", getattr(exc, "message", None))
    return _campaign_back(campaign_id, "#items" if campaign_id else "#campaigns")


@router.get("/rights/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(
    request: Request, settings: SettingsDep, db: DbSession, principal: Reader, campaign_id: RecordId
) -> Response:
    """One campaign: its state, the report (officers, auditors) and the grants to decide."""
    connection = db.connection()
    detail = campaigns.campaign_detail(connection, principal, campaign_id)
    can_decide = principal.role in (_OFFICER, _HEAD)
    return render(
        request,
        "rights_campaign.html",
        settings,
        principal=principal,
        campaign=detail.campaign,
        items=detail.items,
        report=campaigns.report(connection, principal, campaign_id) if principal.role in AUDIT_ROLES else None,
        can_decide=can_decide,
        can_run=principal.role is _OFFICER,
        roles=sorted(service.role_catalog(settings)) if can_decide else [],
        flash=take_flash(request),
        page="rights",
    )


@router.post("/rights/campaigns", dependencies=[Depends(verify_csrf)])
def open_campaign(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: CampaignRunner,
    title: Annotated[str, Form(max_length=200)] = "",
    deadline: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Open a campaign, as ``POST /api/v1/rights/campaigns`` does."""
    now = _now()
    try:
        wanted = CampaignIn.model_validate({"title": title.strip() or None, "deadline": deadline.strip() or None})
        opened = campaigns.open_campaign(
            db.connection(),
            settings,
            principal.municipality_code,
            wanted,
            actor=principal.username,
            now=now,
            today=service.today_in(settings, now),
            client=client_address(request),
        )
    except (ValidationError, Conflict, ValidationFailed) as exc:
        return _campaign_refused(request, db, exc, None)
    flash(request, "ok", "recert_done_opened", f"#{opened.id} {opened.items}")
    return _campaign_back(opened.id)


@router.post("/rights/campaigns/{campaign_id}/items/{item_id}/decide", dependencies=[Depends(verify_csrf)])
def decide_item(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Decider,
    campaign_id: RecordId,
    item_id: RecordId,
    decision: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    new_role: Annotated[str, Form(max_length=64)] = "",
    new_valid_to: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Decide one grant under review, as ``POST /api/v1/rights/campaigns/{id}/items/{item}/decision``."""
    now = _now()
    change = decision == "change"
    try:
        body = RecertDecisionIn.model_validate(
            {
                "decision": decision,
                "reason": reason.strip() or None,
                "new_role": (new_role.strip() or None) if change else None,
                "new_valid_to": (new_valid_to.strip() or None) if change else None,
            }
        )
        decided = campaigns.decide(
            db.connection(),
            settings,
            principal,
            campaign_id,
            item_id,
            body,
            now=now,
            today=service.today_in(settings, now),
            client=client_address(request),
        )
    except (ValidationError, Forbidden, NotFound, Conflict, ValidationFailed) as exc:
        return _campaign_refused(request, db, exc, campaign_id)
    flash(request, "ok", "recert_done_decided", f"{decided.item.user_id} {decided.item.role}")
    return _campaign_back(campaign_id, "#items")


@router.post("/rights/campaigns/{campaign_id}/remind", dependencies=[Depends(verify_csrf)])
def remind_campaign(
    request: Request, settings: SettingsDep, db: DbSession, principal: CampaignRunner, campaign_id: RecordId
) -> Response:
    """Remind the heads who have not decided, as ``POST /api/v1/rights/campaigns/{id}/remind``."""
    now = _now()
    try:
        done = campaigns.remind(
            db.connection(),
            settings,
            principal.municipality_code,
            campaign_id,
            actor=principal.username,
            now=now,
            today=service.today_in(settings, now),
            client=client_address(request),
        )
    except NotFound as exc:
        return _campaign_refused(request, db, exc, campaign_id)
    flash(request, "ok", "recert_done_reminded", ", ".join(done.reminded) or "0")
    return _campaign_back(campaign_id)


@router.post("/rights/campaigns/{campaign_id}/close", dependencies=[Depends(verify_csrf)])
def close_campaign(
    request: Request, settings: SettingsDep, db: DbSession, principal: CampaignRunner, campaign_id: RecordId
) -> Response:
    """Close the campaign, as ``POST /api/v1/rights/campaigns/{id}/close``."""
    now = _now()
    try:
        campaigns.close_campaign(
            db.connection(),
            principal,
            campaign_id,
            now=now,
            today=service.today_in(settings, now),
            client=client_address(request),
        )
    except (NotFound, Conflict) as exc:
        return _campaign_refused(request, db, exc, campaign_id)
    flash(request, "ok", "recert_done_closed")
    return _campaign_back(campaign_id)


# -- end recertification campaigns


# -- ledger (権限管理表 import and export), revocation and account forms --------------------------------

#: Who revokes through the pages: as ``POST /api/v1/rights/grants/{id}/revoke`` (people only).
Revoker = Annotated[Principal, Depends(require(_OFFICER, _HEAD))]
#: Who exports the 権限管理表 and reads the contractor roster; who imports and records contracts.
LedgerReader = Annotated[Principal, Depends(require(_OFFICER, _AUDITOR))]
LedgerOfficer = Annotated[Principal, Depends(require(_OFFICER))]
#: Who creates and disables operator accounts: as ``POST /api/v1/rights/accounts`` (people only). The
#: accounts page shows accounts and their holders' staff ids only: no activity, no resident data.
AccountManager = Annotated[Principal, Depends(require(_OFFICER, PlatformRole.ADMIN))]
ACCOUNT_KINDS = ("personal", "temporary", "admin")


def _form_day(text: str) -> Any:
    """A date typed in a form (``YYYY-MM-DD``, ``2025/4/1`` or 和暦), None when empty; a bad date is
    a refusal the person reads on the page."""
    if not text.strip():
        return None
    day = ledger.parse_day(text)
    if day is None:
        raise ValidationFailed(f"{text.strip()!r} は日付として読めません / is not a date")
    return day


@router.post("/rights/grants/{grant_id}/revoke", dependencies=[Depends(verify_csrf)])
def revoke_grant_form(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: Revoker,
    grant_id: RecordId,
    reason: Annotated[str, Form(max_length=4000)] = "",
    effective_on: Annotated[str, Form(max_length=20)] = "",
    back: Annotated[str, Form(max_length=8)] = "rights",
) -> Response:
    """Revoke a grant with the reason, as ``POST /api/v1/rights/grants/{id}/revoke`` does: officers,
    and section heads for their own section's staff (another section's grant: the refusal page). A
    missing reason or a grant revoked meanwhile comes back as a message on the page."""
    now = _now()
    connection = db.connection()
    today = service.today_in(settings, now)
    grant = repository.grant_by_id(connection, principal.municipality_code, grant_id)
    # back to the account's page only when the person may see it: a redirect must not name another
    # section's account
    holder = None if grant is None else repository.staff_account(connection, principal, grant["user_id"], today)
    target = f"/staff/{quote(holder['user_id'], safe='')}#grants" if back == "staff" and holder else "/rights#grants"
    try:
        body = RevokeIn.model_validate({"reason": reason, "effective_on": _form_day(effective_on)})
        decision = service.revoke_grant(
            connection,
            principal,
            grant_id,
            body,
            now=now,
            today=today,
            client=client_address(request),
        )
    except (ValidationError, Conflict, ValidationFailed) as exc:
        db.rollback()
        if isinstance(exc, ValidationError):
            flash(request, "error", "ledger_revoke_reason_needed")
        else:
            flash(request, "error", "ledger_revoke_not_done", getattr(exc, "message", None))
        return RedirectResponse(target, status_code=303)
    assert decision.grant is not None
    flash(request, "ok", "ledger_revoked", f"#{grant_id} {decision.grant.user_id} {decision.grant.role}")
    return RedirectResponse(target, status_code=303)


@router.get("/rights/ledger", response_class=HTMLResponse)
def ledger_page(request: Request, settings: SettingsDep, db: DbSession, principal: LedgerReader) -> Response:
    """権限管理表: download it (UTF-8 or CP932, as of a day) and, for officers, import one."""
    return _ledger_page(request, settings, principal, None)


def _ledger_page(request: Request, settings: Any, principal: Principal, result: Any, status: int = 200) -> HTMLResponse:
    page = render(
        request,
        "rights_ledger.html",
        settings,
        principal=principal,
        can_import=principal.role is _OFFICER,
        result=result,
        columns=ledger.COLUMNS,
        today=service.today_in(settings),
        flash=take_flash(request),
        page="rights",
    )
    page.status_code = status
    return page


@router.post("/rights/ledger", dependencies=[Depends(verify_csrf)], response_class=HTMLResponse)
def import_ledger_form(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: LedgerOfficer,
    file: Annotated[UploadFile, File()],
    encoding: Annotated[str, Form(max_length=8)] = "auto",
    dry_run: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Import the 権限管理表 from the page (multipart): the result, with every rejected row and its
    line, is the page itself; nothing is applied when a row is bad or for a dry run."""
    data = file.file.read(LEDGER_MAX_BYTES + 1)
    if len(data) > LEDGER_MAX_BYTES:
        raise PayloadTooLarge("the ledger is over 32 MiB / ファイルが大きすぎます")
    try:
        result = ledger.import_ledger(
            db.connection(),
            principal,
            service.role_catalog(settings),
            data,
            encoding="cp932" if encoding == "cp932" else "utf-8" if encoding == "utf-8" else "auto",
            dry_run=bool(dry_run),
            filename=file.filename,
            now=_now(),
            client=client_address(request),
        )
    except ValidationFailed as exc:
        db.rollback()
        flash(request, "error", "ledger_unreadable", exc.message)
        return _ledger_page(request, settings, principal, None, 422)
    return _ledger_page(request, settings, principal, result, 422 if result.errors else 200)


@router.get("/rights/accounts", response_class=HTMLResponse)
def accounts_page(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: AccountManager,
    q: TextFilter = None,
) -> Response:
    """操作者アカウント: the accounts and their holders (staff id, name, kind, created, disabled) with the
    forms to create one and to disable one. No activity and no resident data: administrators use it."""
    connection = db.connection()
    today = service.today_in(settings)
    search = _clean(q)
    return render(
        request,
        "rights_ledger_accounts.html",
        settings,
        principal=principal,
        accounts=repository.staff_accounts(connection, principal, today=today, search=search, limit=STAFF_LIMIT),
        q=search or "",
        kinds=ACCOUNT_KINDS,
        limit=STAFF_LIMIT,
        today=today,
        flash=take_flash(request),
        page="accounts",
    )


def _accounts_back() -> RedirectResponse:
    return RedirectResponse("/rights/accounts", status_code=303)


@router.post("/rights/accounts", dependencies=[Depends(verify_csrf)])
def create_account_form(
    request: Request,
    db: DbSession,
    principal: AccountManager,
    user_id: Annotated[str, Form(max_length=200)] = "",
    staff_id: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=16)] = "personal",
    created_on: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Create an operator account for one person, as ``POST /api/v1/rights/accounts`` does; an
    existing account is not touched from here (a second person on it is the 共用ID refusal)."""
    connection = db.connection()
    try:
        wanted = AccountIn.model_validate(
            {"user_id": user_id, "staff_id": staff_id, "kind": kind, "created_on": _form_day(created_on)}
        )
        existing = repository.account(connection, principal.municipality_code, wanted.user_id)
        if existing is not None and existing["staff_id"] == wanted.staff_id:
            raise Conflict(f"account {wanted.user_id} exists already / 既に登録済みのIDです")
        service.save_account(connection, principal, wanted, client=client_address(request))
    except (ValidationError, Conflict, ValidationFailed) as exc:
        db.rollback()
        if isinstance(exc, ValidationError):
            flash(request, "error", "ledger_account_invalid")
        else:
            flash(request, "error", "ledger_account_not_done", exc.message)
        return _accounts_back()
    flash(request, "ok", "ledger_account_created", f"{wanted.user_id} ({wanted.staff_id})")
    return _accounts_back()


@router.post("/rights/accounts/{user_id}/disable", dependencies=[Depends(verify_csrf)])
def disable_account_form(
    request: Request,
    settings: SettingsDep,
    db: DbSession,
    principal: AccountManager,
    user_id: UserId,
    disabled_on: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Disable an account from a day (default today), as ``POST /api/v1/rights/accounts`` with
    ``disabled_on`` does. Its grants are left to the revocation forms (each needs its reason)."""
    connection = db.connection()
    account = repository.account(connection, principal.municipality_code, user_id)
    if account is None:
        raise NotFound("該当する職員IDはありません / no such account")
    try:
        day = _form_day(disabled_on) or service.today_in(settings)
        if account["staff_id"] is None:
            raise ValidationFailed("the account has no holder on record / 職員が登録されていません")
        wanted = AccountIn.model_validate(
            {"user_id": user_id, "staff_id": account["staff_id"], "kind": account["kind"], "disabled_on": day}
        )
        service.save_account(connection, principal, wanted, client=client_address(request))
    except (ValidationError, Conflict, ValidationFailed) as exc:
        db.rollback()
        flash(request, "error", "ledger_account_not_done", getattr(exc, "message", None))
        return _accounts_back()
    flash(request, "ok", "ledger_account_disabled", f"{user_id} {day}")
    return _accounts_back()


# -- contractors (委託業者の作業者名簿) -------------------------------------------------------------------


@router.get("/rights/contracts", response_class=HTMLResponse)
def contracts_page(request: Request, settings: SettingsDep, db: DbSession, principal: LedgerReader) -> Response:
    """委託契約: the contracts with their operators and pledges; officers record them here."""
    connection = db.connection()
    found = contracts.list_contracts(connection, principal)
    return render(
        request,
        "rights_contracts.html",
        settings,
        principal=principal,
        contracts=[contracts.contract(connection, principal, c.id) for c in found.contracts],
        can_manage=principal.role is _OFFICER,
        today=service.today_in(settings),
        flash=take_flash(request),
        page="rights",
    )


def _contracts_back() -> RedirectResponse:
    return RedirectResponse("/rights/contracts", status_code=303)


@router.post("/rights/contracts", dependencies=[Depends(verify_csrf)])
def add_contract_form(
    request: Request,
    db: DbSession,
    principal: LedgerOfficer,
    contract_number: Annotated[str, Form(max_length=200)] = "",
    contractor: Annotated[str, Form(max_length=200)] = "",
    valid_from: Annotated[str, Form(max_length=20)] = "",
    valid_to: Annotated[str, Form(max_length=20)] = "",
    window_start: Annotated[str, Form(max_length=8)] = "",
    window_end: Annotated[str, Form(max_length=8)] = "",
    weekdays: Annotated[str, Form(max_length=8)] = "12345",
    sections: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Record a contract, as ``POST /api/v1/rights/contracts`` does."""
    try:
        wanted = ContractIn.model_validate(
            {
                "contract_number": contract_number,
                "contractor": contractor,
                "valid_from": _form_day(valid_from),
                "valid_to": _form_day(valid_to),
                "window_start": window_start or None,
                "window_end": window_end or None,
                "weekdays": weekdays,
                "sections": [s.strip() for s in sections.split(",") if s.strip()],
            }
        )
        added = contracts.add_contract(db.connection(), principal, wanted, now=_now(), client=client_address(request))
    except (ValidationError, Conflict, ValidationFailed) as exc:
        db.rollback()
        flash(request, "error", "contract_not_done", getattr(exc, "message", None))
        return _contracts_back()
    flash(request, "ok", "contract_added", f"{added.contract_number} {added.contractor}")
    return _contracts_back()


@router.post("/rights/contracts/{contract_id}/operators", dependencies=[Depends(verify_csrf)])
def assign_operator_form(
    request: Request,
    db: DbSession,
    principal: LedgerOfficer,
    contract_id: RecordId,
    staff_id: Annotated[str, Form(max_length=200)] = "",
    pledge_date: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Put a person under a contract with their pledge day, as the API does."""
    try:
        wanted = ContractOperatorIn.model_validate({"staff_id": staff_id, "pledge_date": _form_day(pledge_date)})
        contracts.assign(db.connection(), principal, contract_id, wanted, now=_now(), client=client_address(request))
    except (ValidationError, ValidationFailed) as exc:
        db.rollback()
        flash(request, "error", "contract_not_done", getattr(exc, "message", None))
        return _contracts_back()
    flash(request, "ok", "contract_assigned", wanted.staff_id)
    return _contracts_back()


# -- end ledger and contractors
