"""HTTP routes of collection: pushes from log sources (a bearer token per source), and for people
(the dashboard's session login) reference-feed uploads and what ingestion did.

Routes that touch the store are plain ``def``: database work is synchronous SQLAlchemy and runs in the
threadpool. Request bodies are read by ``async`` dependencies that stop at the size limit, so an
oversized upload is refused without being held in memory, and only after the sender is authenticated
(dependencies run in the order they are declared).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from auditd.api.deps import DbSession, EngineDep, SettingsDep, require
from auditd.auth.models import PlatformRole
from auditd.auth.schemas import Principal
from auditd.errors import Forbidden, UnsupportedMediaType
from collectors.profile import Profile
from collectors.push import service
from collectors.push.schemas import ErrorBody, ImportResult, PushResult, QuarantinePage, RunList, SourceList

router = APIRouter(prefix="/api/v1", tags=["collect"])

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="push token",
    description="The source's push token (adt_…), from `auditd source add` or `auditd source token`.",
)
CanImport = Annotated[Principal, Depends(require(PlatformRole.OFFICER, PlatformRole.ADMIN))]
CanRead = Annotated[Principal, Depends(require(PlatformRole.OFFICER, PlatformRole.ADMIN, PlatformRole.AUDITOR))]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        401: "not authenticated",
        403: "not allowed for this role, or a cross-site request",
        409: "a request with the same Idempotency-Key is still being processed",
        413: "the body is larger than the limit (or has too many lines)",
        415: "not a raw body of records (a form upload, an unknown charset)",
        422: "the request or its body cannot be used as it is",
        503: "the database cannot be reached just now: retry after `Retry-After` seconds",
    }
    return {status: {"model": ErrorBody, "description": descriptions[status]} for status in statuses}


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


def _declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise service.too_large(int(declared), limit)


# -- pushes -----------------------------------------------------------------------------------------------


def push_source(
    source: str,
    request: Request,
    engine: EngineDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> service.PushSource:
    with service.store_errors():
        return service.authenticate_push(
            engine, source, credentials.credentials if credentials else None, client=_client(request)
        )


async def push_body(request: Request, settings: SettingsDep) -> bytes:
    """The whole body (a push is one transaction), refused as soon as it passes the limit."""
    limit = service.Limits.of(settings).push_max_body_bytes
    _declared_length(request, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise service.too_large(0, limit)
    return bytes(body)


_RECORDS_BODY = {
    "requestBody": {
        "required": False,
        "description": "Records, one per line, read with the source's mapping profile. "
        "A CSV profile with a header row expects the header as the first line.",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("application/x-ndjson", "text/csv", "text/plain")
        },
    }
}


@router.post(
    "/ingest/{source}",
    summary="Push operation-log records of a source (bearer token of that source)",
    response_model=PushResult,
    responses=_errors(401, 409, 413, 415, 422, 503),
    openapi_extra=_RECORDS_BODY,
)
def push(
    request: Request,
    response: Response,
    settings: SettingsDep,
    engine: EngineDep,
    source: Annotated[service.PushSource, Depends(push_source)],
    body: Annotated[bytes, Depends(push_body)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retrying with the same key returns the first answer and stores nothing again.",
        ),
    ] = None,
) -> PushResult:
    """Each line is one record, parsed by the source's profile: events are stored with 個人番号
    masked and residents pseudonymised, bad records are quarantined with the reason. The whole push
    is one transaction. The answer counts what happened; `Idempotent-Replayed: true` marks a stored
    answer returned for a repeated `Idempotency-Key`."""
    with service.store_errors():
        outcome = service.push(
            engine,
            settings,
            source,
            body,
            content_type=request.headers.get("content-type"),
            idempotency_key=idempotency_key,
            client=_client(request),
        )
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return outcome.result


# -- reference feeds ---------------------------------------------------------------------------------------


def same_origin(request: Request, settings: SettingsDep) -> None:
    """Refuse a browser's cross-site request. These routes authenticate with the session cookie; the
    cookie is ``SameSite=Strict`` already, and a browser also says where a request comes from
    (``Origin``), so a page elsewhere cannot make an officer's browser upload a register. The origin
    may be this server as addressed (``Host``) or its public URL (``AUDITD_BASE_URL``, for a reverse
    proxy that rewrites ``Host``). Programs that send no ``Origin`` are not affected."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    allowed = {request.headers.get("host")}
    if settings.base_url:
        allowed.add(urlsplit(settings.base_url).netloc)
    if urlsplit(origin).netloc not in allowed:
        raise Forbidden("cross-site request refused", hint="upload from the dashboard's own address")


def chosen_profile(
    kind: str,
    profile: Annotated[
        str | None, Query(max_length=128, description="a built-in profile; default standard-{kind}")
    ] = None,
) -> Profile:
    return service.import_profile(kind, profile)


_SAFE_NAME = re.compile(r"[^\w.\-]")


async def uploaded_file(
    request: Request,
    settings: SettingsDep,
    kind: str,
    filename: Annotated[
        str | None,
        Query(max_length=200, description="the file's name, kept in the run and the quarantine references"),
    ] = None,
) -> AsyncIterator[tuple[Path, str]]:
    """The body streamed to a private temporary file under the data directory (the feed holds personal
    data: it stays with the store it is meant for, readable by the owner only), removed afterwards."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media in service.FORM_MEDIA_TYPES:
        raise UnsupportedMediaType(
            "a form upload cannot be imported", hint=service.RAW_BODY_HINT.replace("records.jsonl", "staff.csv")
        )
    limit = service.Limits.of(settings).import_max_body_bytes
    _declared_length(request, limit)
    name = _SAFE_NAME.sub("_", Path(filename or "").name).lstrip(".") or f"{kind}.csv"
    uploads = (settings.data_dir / "uploads").resolve()
    uploads.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=uploads) as directory:
        path = Path(directory) / name
        size = 0
        with path.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise service.too_large(0, limit)
                handle.write(chunk)
        yield path, name


@router.post(
    "/import/{kind}",
    summary="Import a reference feed (staff, grants, terminals …) sent as the request body",
    response_model=ImportResult,
    responses=_errors(401, 403, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The file itself (CSV in UTF-8 or CP932, or JSON lines), not a form.",
            "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    dependencies=[Depends(same_origin)],
)
def import_feed(
    settings: SettingsDep,
    engine: EngineDep,
    principal: CanImport,
    profile: Annotated[Profile, Depends(chosen_profile)],
    upload: Annotated[tuple[Path, str], Depends(uploaded_file)],
) -> ImportResult:
    """Same as `auditd import KIND FILE`: values are typed by the target table, residents
    pseudonymised, bad rows quarantined with the reason; the import is recorded in the trail under
    your name. Snapshot feeds replace the municipality's rows."""
    path, name = upload
    return service.import_upload(engine, settings, principal, profile, path, name)


# -- what ingestion did -----------------------------------------------------------------------------------


@router.get(
    "/ingest/runs",
    summary="Recent ingest runs with their counts and status",
    response_model=RunList,
    responses=_errors(401, 403, 422),
)
def runs(
    db: DbSession,
    principal: CanRead,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    source: Annotated[str | None, Query(max_length=64, description="only this source")] = None,
) -> RunList:
    """Files, pushes and imports, newest first."""
    return service.recent_runs(db.connection(), principal.municipality_code, source=source, limit=limit)


@router.get(
    "/ingest/sources",
    summary="Log sources: last event, silent or not, push token set or not",
    response_model=SourceList,
    responses=_errors(401, 403),
)
def sources(db: DbSession, principal: CanRead) -> SourceList:
    """A source is silent when its newest event is older than its `max_silence_hours` (now)."""
    return service.source_health(db.connection(), principal.municipality_code, datetime.now(UTC))


@router.get(
    "/quarantine",
    summary="Quarantined records (masked) with the reason, and counts by reason",
    response_model=QuarantinePage,
    responses=_errors(401, 403, 422),
)
def quarantine(
    db: DbSession,
    principal: CanRead,
    source: Annotated[str | None, Query(max_length=64, description="only this source")] = None,
    reason: Annotated[str | None, Query(max_length=32, description="only this reason code")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> QuarantinePage:
    """Records that could not become events or reference rows, newest first. 個人番号 in them were
    masked before they were stored, but a record may still hold a resident's data (a 宛名番号, a name in a
    reference feed): its text is given to officers only (``raw_text`` is null for everyone else), as on
    the dashboard's 取込 page."""
    page = service.quarantine_page(
        db.connection(), principal.municipality_code, source=source, reason=reason, limit=limit
    )
    if principal.role is not PlatformRole.OFFICER:
        page.items = [item.model_copy(update={"raw_text": None}) for item in page.items]
    return page
