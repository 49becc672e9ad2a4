"""HTTP routes of alerts, cases (事案), suppressions and breach reports: ``/api/v1/alerts``,
``/api/v1/cases``, ``/api/v1/suppressions``.

Reading: officers, auditors, section heads (their own section) and tokens with ``alerts:read``.
Commenting: officers, section heads and tokens with ``alerts:write``. Handling a case (assign, close
with a disposition, reopen, evidence, breach checklist) and suppressing: officers, in person.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from auditd.api.deps import DbSession, Limit, NameFilter, RecordId, SettingsDep, client_address, documented, require
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.cases import service
from auditd.cases.schemas import (
    AlertList,
    AlertOut,
    AssignIn,
    AttachmentOut,
    BreachIn,
    BreachOut,
    BreachReportedIn,
    CaseDetail,
    CaseList,
    CaseStatus,
    CloseIn,
    CommentIn,
    ReopenIn,
    RuleCode,
    Severity,
    StatusIn,
    SuppressionIn,
    SuppressionList,
    SuppressionOut,
)

router = APIRouter(prefix="/api/v1", tags=["alerts"])

_OFFICER, _HEAD, _AUDITOR, _API = (
    PlatformRole.OFFICER,
    PlatformRole.SECTION_HEAD,
    PlatformRole.AUDITOR,
    PlatformRole.API,
)
CanRead = Annotated[Principal, Depends(require(_OFFICER, _HEAD, _AUDITOR, _API, scopes=("alerts:read",)))]
CanComment = Annotated[Principal, Depends(require(_OFFICER, _HEAD, _API, scopes=("alerts:write",)))]
CanHandle = Annotated[Principal, Depends(require(_OFFICER))]


_DESCRIPTIONS = {
    401: "not authenticated",
    403: "not allowed for this role (or a token where a person must act)",
    404: "no such alert, case, attachment or checklist (or not in your section)",
    409: "not in a state that allows it (closed, already reported …)",
    422: "the request or its body cannot be used as it is",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return documented(_DESCRIPTIONS, *statuses)


def _now() -> datetime:
    return datetime.now(UTC)


# -- alerts -------------------------------------------------------------------------------------------


@router.get(
    "/alerts",
    summary="Alerts, newest first (section heads: their section's)",
    response_model=AlertList,
    responses=_errors(401, 403, 422),
)
def list_alerts(
    db: DbSession,
    principal: CanRead,
    status: Annotated[str | None, Query(pattern=r"^(new|investigating|closed|suppressed)$")] = None,
    rule: Annotated[RuleCode | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
    user_id: NameFilter = None,
    case_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 200,
) -> AlertList:
    return service.list_alerts(
        db.connection(),
        principal,
        limit=limit,
        status=status,
        rule=rule,
        severity=severity,
        user_id=user_id,
        case_id=case_id,
        since=since,
        until=until,
    )


@router.get(
    "/alerts/{alert_id}",
    summary="One alert with its event ids and evidence",
    response_model=AlertOut,
    responses=_errors(401, 403, 404, 422),
)
def get_alert(request: Request, db: DbSession, principal: CanRead, alert_id: RecordId) -> AlertOut:
    return service.get_alert(db.connection(), principal, alert_id, client=client_address(request))


# -- cases --------------------------------------------------------------------------------------------


@router.get(
    "/cases",
    summary="Cases (事案), newest first (section heads: their section's)",
    response_model=CaseList,
    responses=_errors(401, 403, 422),
)
def list_cases(
    db: DbSession,
    principal: CanRead,
    status: Annotated[CaseStatus | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
    assignee: NameFilter = None,
    user_id: NameFilter = None,
    limit: Limit = 200,
) -> CaseList:
    return service.list_cases(
        db.connection(), principal, limit=limit, status=status, severity=severity, assignee=assignee, user_id=user_id
    )


@router.get(
    "/cases/{case_id}",
    summary="A case with its alerts, history, attachments and breach checklist",
    response_model=CaseDetail,
    responses=_errors(401, 403, 404, 422),
)
def get_case(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanRead, case_id: RecordId
) -> CaseDetail:
    return service.case_detail(db.connection(), settings, principal, case_id, client=client_address(request))


@router.post(
    "/cases/{case_id}/assign",
    summary="Give the case to an officer (新規 → 調査中)",
    response_model=CaseDetail,
    responses=_errors(401, 403, 404, 409, 422),
)
def assign(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanHandle, case_id: RecordId, body: AssignIn
) -> CaseDetail:
    client = client_address(request)
    service.assign(db.connection(), principal, case_id, body.assignee, now=_now(), client=client)
    return service.case_detail(db.connection(), settings, principal, case_id, client=client)


@router.post(
    "/cases/{case_id}/status",
    summary="Start the investigation (新規 → 調査中)",
    response_model=CaseDetail,
    responses=_errors(401, 403, 404, 409, 422),
)
def set_status(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanHandle, case_id: RecordId, body: StatusIn
) -> CaseDetail:
    client = client_address(request)
    service.start_investigation(db.connection(), principal, case_id, now=_now(), client=client)
    return service.case_detail(db.connection(), settings, principal, case_id, client=client)


@router.post(
    "/cases/{case_id}/comments",
    summary="Add a comment",
    response_model=CaseDetail,
    status_code=201,
    responses=_errors(401, 403, 404, 422),
)
def add_comment(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanComment, case_id: RecordId, body: CommentIn
) -> CaseDetail:
    client = client_address(request)
    service.comment(db.connection(), principal, case_id, body.body, now=_now(), client=client)
    return service.case_detail(db.connection(), settings, principal, case_id, client=client)


@router.post(
    "/cases/{case_id}/close",
    summary="Close with a disposition (正当業務 / 不適切 / 不正 / 誤検知) and its reason",
    response_model=CaseDetail,
    responses=_errors(401, 403, 404, 409, 422),
)
def close(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanHandle, case_id: RecordId, body: CloseIn
) -> CaseDetail:
    """不適切 and 不正 open the breach-report (漏えい等報告) checklist with its deadlines."""
    client = client_address(request)
    service.close(
        db.connection(), settings, principal, case_id, body.disposition, body.reason, now=_now(), client=client
    )
    return service.case_detail(db.connection(), settings, principal, case_id, client=client)


@router.post(
    "/cases/{case_id}/reopen",
    summary="Reopen a closed case, with the reason",
    response_model=CaseDetail,
    responses=_errors(401, 403, 404, 409, 422),
)
def reopen(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanHandle, case_id: RecordId, body: ReopenIn
) -> CaseDetail:
    client = client_address(request)
    service.reopen(db.connection(), principal, case_id, body.reason, now=_now(), client=client)
    return service.case_detail(db.connection(), settings, principal, case_id, client=client)


@router.post(
    "/cases/{case_id}/evidence",
    summary="Export the case's events with their decisions and reference data (CSV and PDF), kept with the case",
    response_model=list[AttachmentOut],
    status_code=201,
    responses=_errors(401, 403, 404, 422),
)
def export_evidence(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanHandle, case_id: RecordId
) -> list[AttachmentOut]:
    return service.export_evidence(
        db.connection(), settings, principal, case_id, now=_now(), client=client_address(request)
    )


@router.get(
    "/cases/{case_id}/attachments/{attachment_id}",
    summary="Download an attachment (the download is recorded)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/pdf": {}}}, **_errors(401, 403, 404, 422)},
)
def download(
    request: Request, db: DbSession, principal: CanHandle, case_id: RecordId, attachment_id: RecordId
) -> Response:
    row = service.attachment(db.connection(), principal, case_id, attachment_id, client=client_address(request))
    return Response(
        content=bytes(row["content"]),
        media_type=str(row["media_type"]),
        headers={
            "Content-Disposition": f'attachment; filename="{row["filename"]}"',
            "X-Content-SHA256": str(row["sha256"]),
        },
    )


# -- breach reports -----------------------------------------------------------------------------------


@router.get(
    "/cases/{case_id}/breach",
    summary="The breach-report checklist and its deadlines",
    response_model=BreachOut,
    responses=_errors(401, 403, 404, 422),
)
def get_breach(db: DbSession, settings: SettingsDep, principal: CanHandle, case_id: RecordId) -> BreachOut:
    return service.get_breach(db.connection(), settings, principal, case_id)


@router.put(
    "/cases/{case_id}/breach",
    summary="Answer the checklist (the deadlines follow)",
    response_model=BreachOut,
    responses=_errors(401, 403, 404, 422),
)
def update_breach(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanHandle, case_id: RecordId, body: BreachIn
) -> BreachOut:
    return service.update_breach(
        db.connection(), settings, principal, case_id, body, now=_now(), client=client_address(request)
    )


@router.post(
    "/cases/{case_id}/breach/reported",
    summary="Record that the 速報 or the 確報 was made to the PPC",
    response_model=BreachOut,
    responses=_errors(401, 403, 404, 409, 422),
)
def breach_reported(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    principal: CanHandle,
    case_id: RecordId,
    body: BreachReportedIn,
) -> BreachOut:
    return service.breach_reported(
        db.connection(), settings, principal, case_id, body.stage, now=_now(), client=client_address(request)
    )


# -- suppressions -------------------------------------------------------------------------------------


@router.get(
    "/suppressions",
    summary="Suppressions (patterns marked legitimate)",
    response_model=SuppressionList,
    responses=_errors(401, 403, 422),
)
def list_suppressions(
    db: DbSession, settings: SettingsDep, principal: CanHandle, active: bool = True, limit: Limit = 500
) -> SuppressionList:
    today = service.today_in(settings)
    return service.list_suppressions(db.connection(), principal, active_on=today if active else None, limit=limit)


@router.post(
    "/suppressions",
    summary="Mark a pattern legitimate until a date",
    response_model=SuppressionOut,
    status_code=201,
    responses=_errors(401, 403, 422),
)
def create_suppression(request: Request, db: DbSession, principal: CanHandle, body: SuppressionIn) -> SuppressionOut:
    return service.create_suppression(db.connection(), principal, body, now=_now(), client=client_address(request))


@router.post(
    "/suppressions/{suppression_id}/revoke",
    summary="End a suppression now",
    response_model=SuppressionOut,
    responses=_errors(401, 403, 404, 409, 422),
)
def revoke_suppression(
    request: Request, db: DbSession, principal: CanHandle, suppression_id: RecordId
) -> SuppressionOut:
    return service.revoke_suppression(
        db.connection(), principal, suppression_id, now=_now(), client=client_address(request)
    )
