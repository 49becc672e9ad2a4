"""HTTP routes of the rights lifecycle, under ``/api/v1/rights``.

Who may call what is declared here with ``require(...)``; whose section a section head may act for,
and that nobody approves their own request, is decided by the service (with the reason returned to
the caller). Approving and rejecting are a person's acts: no API token opens them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request

from auditd.api.deps import DbSession, Limit, NameFilter, RecordId, SettingsDep, client_address, documented, require
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.rights import service
from auditd.rights.schemas import (
    AccountIn,
    AccountOut,
    ApprovalIn,
    DecisionIn,
    DormantList,
    GrantDecision,
    GrantHistory,
    GrantList,
    GrantRequestIn,
    GrantRequestList,
    GrantRequestOut,
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
