"""HTTP routes of reports: ``/api/v1/reports``.

Making and reading the annual and monthly reports: officers and auditors, and tokens with
``reports:write`` / ``reports:read``. A disclosure report (one resident's access history) is made and
read by an officer in person only, and each time is recorded in the trail.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from auditd.api.deps import DbSession, Limit, RecordId, SettingsDep, documented, require
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.trail import service as trail
from reports import service
from reports.render import MEDIA_TYPES
from reports.schemas import ReportIn, ReportList, ReportOut

router = APIRouter(prefix="/api/v1", tags=["reports"])

_OFFICER, _AUDITOR, _API = PlatformRole.OFFICER, PlatformRole.AUDITOR, PlatformRole.API
CanRead = Annotated[Principal, Depends(require(_OFFICER, _AUDITOR, _API, scopes=("reports:read",)))]
CanMake = Annotated[Principal, Depends(require(_OFFICER, _AUDITOR, _API, scopes=("reports:write",)))]

_DESCRIPTIONS = {
    401: "not authenticated",
    403: "not allowed for this role (a disclosure report: an officer in person only)",
    404: "no such report",
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
