"""HTTP routes of reports: ``/api/v1/reports``, the PIA register ``/api/v1/pia`` and the
attestations ``/api/v1/attestations``.

Making and reading the annual and monthly reports: officers and auditors, and tokens with
``reports:write`` / ``reports:read``. A disclosure report (one resident's access history) is made and
read by an officer in person only, and each time is recorded in the trail. The PIA register and the
attestations are read by officers, auditors and tokens with ``reports:read``; adding a 評価書,
recording its review and attesting are an officer's acts in person (no token).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile

from auditd.api.deps import DbSession, Limit, RecordId, SettingsDep, documented, require
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.settings import Settings
from auditd.trail import service as trail
from reports import attest, pia, service
from reports.render import MEDIA_TYPES
from reports.schemas import (
    AttestationList,
    AttestationOut,
    AttestationResult,
    PiaIn,
    PiaList,
    PiaOut,
    PiaReviewIn,
    ReportIn,
    ReportList,
    ReportOut,
)

router = APIRouter(prefix="/api/v1", tags=["reports"])

_OFFICER, _AUDITOR, _API = PlatformRole.OFFICER, PlatformRole.AUDITOR, PlatformRole.API
CanRead = Annotated[Principal, Depends(require(_OFFICER, _AUDITOR, _API, scopes=("reports:read",)))]
CanMake = Annotated[Principal, Depends(require(_OFFICER, _AUDITOR, _API, scopes=("reports:write",)))]
#: Adding to the register and attesting: an officer, in person (a token is refused).
Officer = Annotated[Principal, Depends(require(_OFFICER))]

_DESCRIPTIONS = {
    401: "not authenticated",
    403: "not allowed for this role (a disclosure report: an officer in person only)",
    404: "no such report, PIA report or evidence file",
    413: "the evidence file is larger than AUDITD_ATTESTATION_MAX_BYTES",
    422: "the request or its body cannot be used as it is",
}


_FILE: dict[int | str, dict[str, Any]] = {
    200: {"description": "the file", "content": {m: {} for m in MEDIA_TYPES.values()}}
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return documented(_DESCRIPTIONS, *statuses)


@router.post(
    "/reports",
    summary="Make a report (annual, monthly or disclosure) and store it",
    response_model=ReportOut,
    status_code=201,
    responses=_errors(401, 403, 422),
)
def make_report(db: DbSession, settings: SettingsDep, principal: CanMake, body: ReportIn) -> ReportOut:
    return service.make(db.connection(), settings, principal, body, "api")


@router.get(
    "/reports",
    summary="Reports made, newest first",
    response_model=ReportList,
    responses=_errors(401, 403, 422),
)
def list_reports(
    db: DbSession,
    principal: CanRead,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    since: date | None = None,
    limit: Limit = 100,
) -> ReportList:
    return ReportList(items=service.listing(db.connection(), principal, kind=kind, since=since, limit=limit))


@router.get(
    "/reports/{report_id}",
    summary="One report's description (not its file)",
    response_model=ReportOut,
    responses=_errors(401, 403, 404, 422),
)
def get_report(db: DbSession, principal: CanRead, report_id: RecordId) -> ReportOut:
    return service.out(service.readable(db.connection(), principal, report_id, content=False))


@router.get(
    "/reports/{report_id}/file",
    summary="Download a report's file (PDF, HTML or XLSX)",
    response_class=Response,
    responses=_FILE | _errors(401, 403, 404, 422),
)
def download_report(db: DbSession, principal: CanRead, report_id: RecordId) -> Response:
    row = service.readable(db.connection(), principal, report_id, content=True)
    trail.record(
        db.connection(),
        principal.municipality_code,
        principal.username,
        "report.download",
        "report",
        str(report_id),
        detail={"kind": row["kind"], "sha256": row["sha256"]},
        client="api",
    )
    name = f"{row['kind']}-{row['period_start']}-{row['period_end']}.{row['format']}"
    return Response(
        content=bytes(row["content"]),
        media_type=MEDIA_TYPES[row["format"]],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Content-SHA256": row["sha256"]},
    )


# -- the PIA register ---------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _today(settings: Settings) -> date:
    return _now().astimezone(settings.tz).date()


@router.get(
    "/pia",
    summary="The PIA register (評価書台帳) with the review and re-assessment due dates",
    response_model=PiaList,
    responses=_errors(401, 403, 422),
)
def list_pias(db: DbSession, settings: SettingsDep, principal: CanRead, withdrawn: bool = False) -> PiaList:
    items = pia.register(db.connection(), principal.municipality_code, _today(settings), withdrawn=withdrawn)
    return PiaList(items=items)


@router.post(
    "/pia",
    summary="Add a PIA report (評価書) to the register",
    response_model=PiaOut,
    status_code=201,
    responses=_errors(401, 403, 422),
)
def add_pia(db: DbSession, settings: SettingsDep, principal: Officer, body: PiaIn) -> PiaOut:
    code = principal.municipality_code
    pia_id = pia.add(db.connection(), code, body, actor=principal.username, client="api", now=_now())
    return pia.one(db.connection(), code, pia_id, _today(settings))


@router.get(
    "/pia/{pia_id}",
    summary="One PIA report with its reviews",
    response_model=PiaOut,
    responses=_errors(401, 403, 404, 422),
)
def get_pia(db: DbSession, settings: SettingsDep, principal: CanRead, pia_id: RecordId) -> PiaOut:
    return pia.one(db.connection(), principal.municipality_code, pia_id, _today(settings))


@router.post(
    "/pia/{pia_id}/reviews",
    summary="Record a review (見直し) or re-assessment (再評価) of a PIA report",
    response_model=PiaOut,
    status_code=201,
    responses=_errors(401, 403, 404, 422),
)
def review_pia(db: DbSession, settings: SettingsDep, principal: Officer, pia_id: RecordId, body: PiaReviewIn) -> PiaOut:
    return pia.review(
        db.connection(),
        principal.municipality_code,
        pia_id,
        body,
        actor=principal.username,
        client="api",
        now=_now(),
        today=_today(settings),
    )


# -- attestations -------------------------------------------------------------------------------------

FiscalYear = Annotated[int, Query(ge=2000, le=2100, examples=[2025])]
_EVIDENCE: dict[int | str, dict[str, Any]] = {200: {"description": "the evidence file as it was given"}}


def read_upload(settings: Settings, upload: UploadFile) -> attest.Evidence:
    """The uploaded file, refused (413) as soon as it is larger than ``attestation_max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    while chunk := upload.file.read(1024 * 1024):
        size += len(chunk)
        attest.check_evidence_size(settings, size)
        chunks.append(chunk)
    return attest.Evidence(
        upload.filename or "evidence", upload.content_type or "application/octet-stream", b"".join(chunks)
    )


@router.get(
    "/attestations",
    summary="The attestations (証跡による回答) of a fiscal year, oldest first, the current one of each item marked",
    response_model=AttestationList,
    responses=_errors(401, 403, 422),
)
def list_attestations(db: DbSession, principal: CanRead, fiscal_year: FiscalYear) -> AttestationList:
    return attest.listing(db.connection(), principal.municipality_code, fiscal_year)


@router.post(
    "/attestations",
    summary="Attest an item of a fiscal year (multipart: fields and an optional evidence file)",
    response_model=AttestationOut,
    status_code=201,
    responses=_errors(401, 403, 413, 422),
)
def add_attestation(
    db: DbSession,
    settings: SettingsDep,
    principal: Officer,
    fiscal_year: Annotated[int, Form(ge=2000, le=2100)],
    item: Annotated[str, Form(max_length=32)],
    result: Annotated[AttestationResult, Form()],
    statement: Annotated[str, Form(min_length=1, max_length=attest.MAX_STATEMENT)],
    evidence: Annotated[UploadFile | None, File(description="the evidence (PDF, image, spreadsheet …)")] = None,
) -> AttestationOut:
    attest.require_officer(principal)
    file = None if evidence is None or not evidence.filename else read_upload(settings, evidence)
    return attest.attest(
        db.connection(),
        settings,
        principal.municipality_code,
        fiscal_year=fiscal_year,
        item=item,
        result=result,
        statement=statement,
        evidence=file,
        actor=principal.username,
        client="api",
        now=_now(),
    )


@router.get(
    "/attestations/{attestation_id}/evidence",
    summary="Download an attestation's evidence file (recorded in the trail)",
    response_class=Response,
    responses=_EVIDENCE | _errors(401, 403, 404, 422),
)
def download_evidence(db: DbSession, principal: CanRead, attestation_id: RecordId) -> Response:
    row = attest.evidence(
        db.connection(), principal.municipality_code, attestation_id, actor=principal.username, client="api"
    )
    return evidence_response(row)


def evidence_response(row: dict[str, Any]) -> Response:
    """The evidence file as given, named as given (RFC 6266 ``filename*`` for a Japanese name)."""
    name = str(row["evidence_name"])
    return Response(
        content=bytes(row["evidence"]),
        media_type=str(row["evidence_media_type"]),
        headers={
            "Content-Disposition": f"attachment; filename=\"evidence-{row['id']}\"; filename*=UTF-8''{quote(name)}",
            "X-Content-SHA256": str(row["evidence_sha256"]),
        },
    )
