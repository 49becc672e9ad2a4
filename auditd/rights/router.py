"""HTTP routes of the rights lifecycle, under ``/api/v1/rights``.

Who may call what is declared here with ``require(...)``; whose section a section head may act for,
and that nobody approves their own request, is decided by the service (with the reason returned to
the caller). Approving and rejecting are a person's acts: no API token opens them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from auditd.api.deps import DbSession, Limit, NameFilter, RecordId, SettingsDep, client_address, documented, require
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.errors import Forbidden, PayloadTooLarge, ValidationFailed
from auditd.rights import campaigns, contracts, ledger, service
from auditd.rights import schemas as recert
from auditd.rights.schemas import (
    AccountIn,
    AccountOut,
    ApprovalIn,
    ContractDetail,
    ContractIn,
    ContractList,
    ContractOperatorIn,
    ContractOut,
    DecisionIn,
    DormantList,
    GrantDecision,
    GrantHistory,
    GrantList,
    GrantRequestIn,
    GrantRequestList,
    GrantRequestOut,
    LedgerImportResult,
    PersonnelIn,
    PersonnelResult,
    RevocationLag,
    RevokeIn,
)

router = APIRouter(prefix="/api/v1/rights", tags=["rights"])

_OFFICER, _HEAD, _AUDITOR, _ADMIN, _API = (
    PlatformRole.OFFICER,
    PlatformRole.SECTION_HEAD,
    PlatformRole.AUDITOR,
    PlatformRole.ADMIN,
    PlatformRole.API,
)
CanRequest = Annotated[Principal, Depends(require(_OFFICER, _HEAD, _API, scopes=("rights:write",)))]
CanDecide = Annotated[Principal, Depends(require(_OFFICER, _HEAD))]
CanRevoke = Annotated[Principal, Depends(require(_OFFICER, _HEAD, _API, scopes=("rights:write",)))]
CanRead = Annotated[Principal, Depends(require(_OFFICER, _HEAD, _AUDITOR, _API, scopes=("rights:read",)))]
CanAudit = Annotated[Principal, Depends(require(_OFFICER, _AUDITOR, _API, scopes=("rights:read",)))]
CanManageAccounts = Annotated[Principal, Depends(require(_OFFICER, _ADMIN, _API, scopes=("rights:write",)))]
CanApplyPersonnel = Annotated[Principal, Depends(require(_OFFICER, _API, scopes=("rights:write",)))]


_DESCRIPTIONS = {
    401: "not authenticated",
    403: "not allowed: role, section, or your own request",
    404: "no such request or grant",
    409: "already decided or revoked; or an account that belongs to another person",
    422: "the request or its body cannot be used as it is",
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return documented(_DESCRIPTIONS, *statuses)


def _now() -> datetime:
    return datetime.now(UTC)


# -- requests -----------------------------------------------------------------------------------------


@router.post(
    "/requests",
    summary="Request that an account be granted a role (権限付与申請)",
    response_model=GrantRequestOut,
    status_code=201,
    responses=_errors(401, 403, 422),
)
def create_request(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanRequest, body: GrantRequestIn
) -> GrantRequestOut:
    """The role must be in the policy in force; a temporary grant (the flag, or an account of kind
    `temporary`) must have `valid_to`. A section head requests for the staff of their own section."""
    now = _now()
    return service.create_request(
        db.connection(),
        principal,
        service.role_catalog(settings),
        body,
        now=now,
        today=service.today_in(settings, now),
        client=client_address(request),
    )


@router.get(
    "/requests",
    summary="Grant requests, newest first (section heads: their own section's)",
    response_model=GrantRequestList,
    responses=_errors(401, 403, 422),
)
def list_requests(
    db: DbSession,
    settings: SettingsDep,
    principal: CanRead,
    status: Annotated[Literal["pending", "approved", "rejected"] | None, Query()] = None,
    user_id: NameFilter = None,
    limit: Limit = 200,
) -> GrantRequestList:
    return service.list_requests(
        db.connection(), principal, status=status, user_id=user_id, today=service.today_in(settings), limit=limit
    )


@router.post(
    "/requests/{request_id}/approve",
    summary="Approve a request and issue the grant (所属長 of the holder's section, or an officer)",
    response_model=GrantDecision,
    responses=_errors(401, 403, 404, 409, 422),
)
def approve(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    principal: CanDecide,
    request_id: RecordId,
    body: Annotated[ApprovalIn | None, Body()] = None,
) -> GrantDecision:
    """The section head of the section the account's holder belongs to on `valid_from`, or an
    officer; never the person who made the request. The grant is issued with origin `api`."""
    return service.approve_request(
        db.connection(),
        principal,
        service.role_catalog(settings),
        request_id,
        comment=body.comment if body else None,
        now=_now(),
        client=client_address(request),
    )


@router.post(
    "/requests/{request_id}/reject",
    summary="Reject a request, with the reason",
    response_model=GrantDecision,
    responses=_errors(401, 403, 404, 409, 422),
)
def reject(
    request: Request, db: DbSession, principal: CanDecide, request_id: RecordId, body: DecisionIn
) -> GrantDecision:
    return service.reject_request(
        db.connection(), principal, request_id, body.reason, now=_now(), client=client_address(request)
    )


# -- grants -------------------------------------------------------------------------------------------


@router.get(
    "/grants",
    summary="Grants (the ledger's and those issued here); section heads see their own section's",
    response_model=GrantList,
    responses=_errors(401, 403, 422),
)
def list_grants(
    db: DbSession,
    settings: SettingsDep,
    principal: CanRead,
    user_id: NameFilter = None,
    status: Annotated[Literal["active", "suspended", "revoked"] | None, Query()] = None,
    limit: Limit = 1000,
) -> GrantList:
    return service.list_grants(
        db.connection(), principal, user_id=user_id, status=status, today=service.today_in(settings), limit=limit
    )


@router.get(
    "/grants/without-expiry",
    summary="Active grants with no end (valid_to empty): to review",
    response_model=GrantList,
    responses=_errors(401, 403, 422),
)
def grants_without_expiry(db: DbSession, settings: SettingsDep, principal: CanRead, limit: Limit = 1000) -> GrantList:
    return service.list_grants(
        db.connection(),
        principal,
        user_id=None,
        status="active",
        today=service.today_in(settings),
        without_expiry=True,
        limit=limit,
    )


@router.get(
    "/grants/{grant_id}/events",
    summary="The history of a grant: every step, who, when, why (from grant_events)",
    response_model=GrantHistory,
    responses=_errors(401, 403, 404, 422),
)
def grant_history(db: DbSession, settings: SettingsDep, principal: CanRead, grant_id: RecordId) -> GrantHistory:
    """Oldest first, the request it was issued for included. A section head sees their own section's."""
    return service.grant_history(db.connection(), principal, grant_id, today=service.today_in(settings))


@router.post(
    "/grants/{grant_id}/revoke",
    summary="Revoke a grant, with the reason (mandatory)",
    response_model=GrantDecision,
    responses=_errors(401, 403, 404, 409, 422),
)
def revoke(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanRevoke, grant_id: RecordId, body: RevokeIn
) -> GrantDecision:
    """`effective_on` is the day the right should have ended (default today): the revocation lag is
    measured from it."""
    now = _now()
    return service.revoke_grant(
        db.connection(),
        principal,
        grant_id,
        body,
        now=now,
        today=service.today_in(settings, now),
        client=client_address(request),
    )


# -- accounts and the personnel register --------------------------------------------------------------------


@router.post(
    "/accounts",
    summary="Create or update the operator account of one person (never shared)",
    response_model=AccountOut,
    responses=_errors(401, 403, 409, 422),
)
def save_account(request: Request, db: DbSession, principal: CanManageAccounts, body: AccountIn) -> AccountOut:
    """An existing account given to a different person is refused (409): one account, one person."""
    return service.save_account(db.connection(), principal, body, client=client_address(request))


@router.post(
    "/personnel/apply",
    summary="Suspend (or flag) grants that transfers and retirements make lapse",
    response_model=PersonnelResult,
    responses=_errors(401, 403, 422),
)
def apply_personnel(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    principal: CanApplyPersonnel,
    body: Annotated[PersonnelIn | None, Body()] = None,
) -> PersonnelResult:
    """As of `on` (default today): a grant whose holder moved to a section the role does not list, or
    retired, is suspended from that day — or only flagged with `AUDITD_RIGHTS_PERSONNEL_ACTION=flag`."""
    now = _now()
    on = (body.on if body else None) or service.today_in(settings, now)
    return service.apply_personnel(
        db.connection(),
        settings,
        principal.municipality_code,
        service.role_catalog(settings),
        on=on,
        actor=principal.username,
        now=now,
        client=client_address(request),
    )


# -- measures -----------------------------------------------------------------------------------------


@router.get(
    "/revocation-lag",
    summary="Time from the day a right should have ended to its suspension or revocation",
    response_model=RevocationLag,
    responses=_errors(401, 403),
)
def revocation_lag(db: DbSession, settings: SettingsDep, principal: CanAudit) -> RevocationLag:
    return service.revocation_lag(db.connection(), settings, principal, today=service.today_in(settings))


@router.get(
    "/dormant",
    summary="Accounts in use without a successful login in the last N days",
    response_model=DormantList,
    responses=_errors(401, 403, 422),
)
def dormant(
    db: DbSession,
    settings: SettingsDep,
    principal: CanAudit,
    days: Annotated[int, Query(ge=1, le=3660)] = 90,
    limit: Limit = 1000,
) -> DormantList:
    now = _now()
    return service.dormant(
        db.connection(), principal, days=days, now=now, today=service.today_in(settings, now), limit=limit
    )


# -- recertification campaigns (権限表の見直し) ---------------------------------------------------------
#: Who runs a campaign (opens, reminds, closes): officers, in person.
CanRunCampaign = Annotated[Principal, Depends(require(_OFFICER))]


@router.post(
    "/campaigns",
    summary="Open a recertification campaign (権限表の見直し) over every active grant",
    response_model=recert.CampaignOut,
    status_code=201,
    responses=_errors(401, 403, 409, 422),
)
def open_campaign(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    principal: CanRunCampaign,
    body: Annotated[recert.CampaignIn | None, Body()] = None,
) -> recert.CampaignOut:
    """Each active grant becomes an item for the section head of its holder's section, with the
    account's use over the last `usage_months` (unused: 0). One open campaign at a time (409)."""
    now = _now()
    return campaigns.open_campaign(
        db.connection(),
        settings,
        principal.municipality_code,
        body or recert.CampaignIn(),
        actor=principal.username,
        now=now,
        today=service.today_in(settings, now),
        client=client_address(request),
    )


@router.get(
    "/campaigns",
    summary="Recertification campaigns, newest first, with progress (section heads: their own items)",
    response_model=recert.CampaignList,
    responses=_errors(401, 403, 422),
)
def list_campaigns(
    db: DbSession,
    principal: CanRead,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
    limit: Limit = 100,
) -> recert.CampaignList:
    return campaigns.list_campaigns(db.connection(), principal, status=status, limit=limit)


@router.get(
    "/campaigns/{campaign_id}",
    summary="A campaign and the grants under review you may see, with their use",
    response_model=recert.CampaignDetail,
    responses=_errors(401, 403, 404, 422),
)
def campaign_detail(
    db: DbSession,
    principal: CanRead,
    campaign_id: RecordId,
    section: NameFilter = None,
    undecided: bool = False,
) -> recert.CampaignDetail:
    """A section head sees their own section's items only; `unused` marks grants not used at all."""
    return campaigns.campaign_detail(db.connection(), principal, campaign_id, section_code=section, undecided=undecided)


@router.post(
    "/campaigns/{campaign_id}/items/{item_id}/decision",
    summary="Decide a grant under review: keep, revoke or change (所属長 of its section, or an officer)",
    response_model=recert.RecertDecisionOut,
    responses=_errors(401, 403, 404, 409, 422),
)
def decide_item(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    principal: CanDecide,
    campaign_id: RecordId,
    item_id: RecordId,
    body: recert.RecertDecisionIn,
) -> recert.RecertDecisionOut:
    """`revoke` revokes the grant today; `change` revokes it and requests `new_role` (approved as any
    request). Decided once (409); another section's item answers 404."""
    now = _now()
    return campaigns.decide(
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


@router.post(
    "/campaigns/{campaign_id}/remind",
    summary="Mail the section heads who still have grants to decide (at most once a day)",
    response_model=recert.CampaignRunResult,
    responses=_errors(401, 403, 404, 422),
)
def remind_campaign(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanRunCampaign, campaign_id: RecordId
) -> recert.CampaignRunResult:
    now = _now()
    return campaigns.remind(
        db.connection(),
        settings,
        principal.municipality_code,
        campaign_id,
        actor=principal.username,
        now=now,
        today=service.today_in(settings, now),
        client=client_address(request),
    )


@router.post(
    "/campaigns/{campaign_id}/close",
    summary="Close a campaign; grants still undecided are flagged",
    response_model=recert.CampaignOut,
    responses=_errors(401, 403, 404, 409, 422),
)
def close_campaign(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanRunCampaign, campaign_id: RecordId
) -> recert.CampaignOut:
    now = _now()
    return campaigns.close_campaign(
        db.connection(),
        principal,
        campaign_id,
        now=now,
        today=service.today_in(settings, now),
        client=client_address(request),
    )


@router.get(
    "/campaigns/{campaign_id}/report",
    summary="The campaign report: by section, reviewed, kept, revoked, changed, unreviewed, unused",
    response_model=recert.CampaignReport,
    responses=_errors(401, 403, 404, 422),
)
def campaign_report(db: DbSession, principal: CanAudit, campaign_id: RecordId) -> recert.CampaignReport:
    return campaigns.report(db.connection(), principal, campaign_id)


@router.get(
    "/campaigns/{campaign_id}/report.csv",
    summary="The campaign report as CSV (recorded in the trail)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **_errors(401, 403, 404, 422)},
)
def campaign_report_csv(
    request: Request, db: DbSession, settings: SettingsDep, principal: CanAudit, campaign_id: RecordId
) -> Response:
    name, body = campaigns.report_csv(
        db.connection(), principal, campaign_id, now=_now(), client=client_address(request), language=settings.language
    )
    return Response(
        body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


# -- end recertification campaigns


# -- ledger (権限管理表 import and export) ----------------------------------------------------------------

CanExportLedger = Annotated[Principal, Depends(require(_OFFICER, _AUDITOR))]
CanImportLedger = Annotated[Principal, Depends(require(_OFFICER))]
LEDGER_MAX_BYTES = 32 * 1024 * 1024
_MEDIA = {"utf-8": "text/csv; charset=utf-8", "cp932": "text/csv; charset=windows-31j"}


async def ledger_upload(request: Request) -> tuple[bytes, str | None]:
    """The file: the body itself (``text/csv``), or the ``file`` field of a multipart form; refused
    over 32 MiB, and from a page of another site (``Origin``; the session cookie is SameSite too)."""
    origin = request.headers.get("origin")
    if origin is not None and origin.partition("://")[2] != request.headers.get("host"):
        raise Forbidden("a request from another site / 他のサイトからの送信です")
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    too_large = PayloadTooLarge(f"the ledger is over {LEDGER_MAX_BYTES // (1024 * 1024)} MiB / ファイルが大きすぎます")
    if media == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        field = form.get("file")
        if isinstance(field, UploadFile):
            data, name = await field.read(LEDGER_MAX_BYTES + 1), field.filename
        else:
            data, name = (field or "").encode(), None
        if len(data) > LEDGER_MAX_BYTES:
            raise too_large
        return data, name
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > LEDGER_MAX_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks), request.query_params.get("filename")


@router.get(
    "/ledger.csv",
    summary="The 権限管理表 as CSV (UTF-8 with BOM for Excel, or CP932), Japanese headers",
    response_class=Response,
    responses={**_errors(401, 403, 422), 200: {"content": {"text/csv": {}}}},
)
def export_ledger(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    principal: CanExportLedger,
    encoding: Annotated[Literal["utf-8", "cp932"], Query()] = "utf-8",
    on: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD; empty: every grant not revoked")] = None,
) -> Response:
    """Every grant not revoked, or with `on` those in force that day. In CP932 a character it lacks
    is written as 〓; the header `X-Auditd-Replaced` says in how many cells."""
    today = service.today_in(settings)
    try:  # an empty value is what the page's form sends when no day is chosen
        day = date.fromisoformat(on) if on else None
    except ValueError as exc:
        raise ValidationFailed(f"on={on!r} is not a date (YYYY-MM-DD) / 日付が不正です") from exc
    done = ledger.export(
        db.connection(), principal, encoding=encoding, on=day, today=today, client=client_address(request)
    )
    name = f"kengen_{day or today}_{encoding}.csv"
    return Response(
        done.data,
        media_type=_MEDIA[encoding],
        headers={"content-disposition": f'attachment; filename="{name}"', "x-auditd-replaced": str(done.replaced)},
    )


@router.post(
    "/ledger",
    summary="Import a 権限管理表 (CSV body or multipart field `file`): all rows or none",
    response_model=LedgerImportResult,
    responses={
        **_errors(401, 403),
        413: {"description": "the file is over 32 MiB"},
        422: {"model": LedgerImportResult, "description": "rows rejected (nothing applied), or not a ledger"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
            },
        }
    },
)
def import_ledger(
    request: Request,
    db: DbSession,
    settings: SettingsDep,
    principal: CanImportLedger,
    upload: Annotated[tuple[bytes, str | None], Depends(ledger_upload)],
    encoding: Annotated[Literal["auto", "utf-8", "cp932"], Query()] = "auto",
    dry_run: bool = False,
) -> Response:
    """Every bad row is answered with its line (the header is line 1) and the reason (422), and then
    nothing is applied; `dry_run` checks without applying. Re-importing a file changes nothing."""
    data, name = upload
    result = ledger.import_ledger(
        db.connection(),
        principal,
        service.role_catalog(settings),
        data,
        encoding=encoding,
        dry_run=dry_run,
        filename=name,
        now=_now(),
        client=client_address(request),
    )
    return JSONResponse(result.model_dump(mode="json"), status_code=422 if result.errors else 200)


# -- contractors (委託業者の作業者名簿) -------------------------------------------------------------------

CanReadContracts = Annotated[Principal, Depends(require(_OFFICER, _AUDITOR, _API, scopes=("rights:read",)))]
CanManageContracts = Annotated[Principal, Depends(require(_OFFICER, _API, scopes=("rights:write",)))]


@router.get(
    "/contracts",
    summary="Contracts of the contractor roster, the latest first",
    response_model=ContractList,
    responses=_errors(401, 403),
)
def list_contracts(db: DbSession, principal: CanReadContracts) -> ContractList:
    return contracts.list_contracts(db.connection(), principal)


@router.post(
    "/contracts",
    summary="Record a contract: period (grants end with it), work window, sections",
    response_model=ContractOut,
    status_code=201,
    responses=_errors(401, 403, 409, 422),
)
def add_contract(request: Request, db: DbSession, principal: CanManageContracts, body: ContractIn) -> ContractOut:
    return contracts.add_contract(db.connection(), principal, body, now=_now(), client=client_address(request))


@router.get(
    "/contracts/{contract_id}",
    summary="A contract and the people working under it, with their pledge (誓約書) day",
    response_model=ContractDetail,
    responses=_errors(401, 403, 404, 422),
)
def contract_detail(db: DbSession, principal: CanReadContracts, contract_id: RecordId) -> ContractDetail:
    return contracts.contract(db.connection(), principal, contract_id)


@router.post(
    "/contracts/{contract_id}/operators",
    summary="Put a person under a contract, or record their pledge day",
    response_model=ContractDetail,
    responses=_errors(401, 403, 404, 422),
)
def assign_operator(
    request: Request, db: DbSession, principal: CanManageContracts, contract_id: RecordId, body: ContractOperatorIn
) -> ContractDetail:
    """Grants to a contractor need a contract in force and a pledge signed by their start."""
    return contracts.assign(db.connection(), principal, contract_id, body, now=_now(), client=client_address(request))


# -- end ledger and contractors
